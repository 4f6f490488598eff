// SPDX-License-Identifier: GPL-2.0
/*
 * mig_states_test: the v2 migration state machine of a device bound to
 * rvfio-pci, through the upstream uAPI only.
 *
 *   mig_states_test IGB_BDF OTHER_BDF
 *
 * On the igb: the features offered, MIG_DATA_SIZE, every pair of states
 * (reach the first from RUNNING, then ask for the second: the state reads back,
 * a data fd comes exactly when a session opens, STOP_COPY to a pre-copy state
 * is refused and changes nothing, leaving RESUMING without a stream fails with
 * ENODATA and stays there), the stream's size and magic, VFIO_DEVICE_RESET
 * back to RUNNING, MSI-X set up while RESUMING (as QEMU's destination does).
 * On OTHER_BDF (no personality): no migration feature.
 *
 * Prints "RESULT mig_<check> PASS|FAIL (detail)" lines and exits 1 if any
 * check failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "mig_feature.h"
#include "results.h"
#include "vfio_cdev.h"

#define result(name, pass, ...) result_of("mig", name, pass, __VA_ARGS__)

static int is_saving(__u32 s)
{
	return s == VFIO_DEVICE_STATE_PRE_COPY || s == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       s == VFIO_DEVICE_STATE_STOP_COPY;
}

/*
 * What QEMU does on a migration's destination: while the device is RESUMING,
 * it enables MSI-X with an eventfd (here for vector 0), then disables it.
 */
static void irqs_while_resuming(int device)
{
	struct {
		struct vfio_irq_set set;
		__s32 fd;
	} irqs = {
		.set.argsz = sizeof(irqs),
		.set.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.set.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.set.count = 1,
	};
	int fd, ret, off;

	back_to_running(device);
	irqs.fd = eventfd(0, 0);
	ret = set_state(device, VFIO_DEVICE_STATE_RESUMING, &fd);
	if (!ret)
		ret = ioctl(device, VFIO_DEVICE_SET_IRQS, &irqs) ? errno : 0;
	irqs.set.argsz = sizeof(irqs.set);
	irqs.set.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	irqs.set.count = 0;
	off = ioctl(device, VFIO_DEVICE_SET_IRQS, &irqs) ? errno : 0;
	result("set_irqs_while_resuming", !ret && !off &&
	       get_state(device) == VFIO_DEVICE_STATE_RESUMING,
	       "enable: %s, disable: %s, state %u", strerror(ret), strerror(off), get_state(device));
	if (fd >= 0)
		close(fd);
	close(irqs.fd);
	back_to_running(device);
}

static void every_pair(int device)
{
	int pairs = 0, bad = 0;
	char detail[128] = "";

	for (__u32 from = 1; from < VFIO_DEVICE_STATE_NR; from++) {
		for (__u32 to = 1; to < VFIO_DEVICE_STATE_NR; to++) {
			int first, fd, ret, want_ret = 0, want_fd;
			__u32 want_state = to;

			back_to_running(device);
			if (set_state(device, from, &first) || get_state(device) != from) {
				bad++;
				snprintf(detail, sizeof(detail), "reaching %u", from);
				continue;
			}
			want_fd = (is_saving(to) && !is_saving(from)) ||
				  (to == VFIO_DEVICE_STATE_RESUMING && from != to);
			if (from == VFIO_DEVICE_STATE_STOP_COPY &&
			    (to == VFIO_DEVICE_STATE_PRE_COPY || to == VFIO_DEVICE_STATE_PRE_COPY_P2P)) {
				want_ret = EINVAL;
				want_state = from;
				want_fd = 0;
			} else if (from == VFIO_DEVICE_STATE_RESUMING && to != from) {
				want_ret = ENODATA;
				want_state = from;
				want_fd = 0;
			}
			ret = set_state(device, to, &fd);
			pairs++;
			if (ret != want_ret || get_state(device) != want_state ||
			    (fd >= 0) != want_fd) {
				bad++;
				snprintf(detail, sizeof(detail), "%u -> %u: %s, state %u, fd %d",
					 from, to, strerror(ret), get_state(device), fd);
			}
			if (fd >= 0)
				close(fd);
			if (first >= 0)
				close(first);
		}
	}
	result("every_pair", pairs == 49 && !bad, "%d of %d pairs wrong; last %s", bad, pairs,
	       detail);
}

int main(int argc, char **argv)
{
	struct vfio_device_feature_migration mig = { 0 };
	struct vfio_device_feature_mig_data_size size = { 0 };
	unsigned char stream[65536];
	ssize_t got, total = 0;
	int device, other, fd, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s IGB_BDF OTHER_BDF\n", argv[0]);
		return 2;
	}
	device = vfio_open_device(argv[1]);

	ret = feature(device, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	result("probe", ret == 0, "%s", strerror(ret));
	ret = feature(device, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, &mig,
		      sizeof(mig));
	result("features", !ret && mig.flags == (VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P |
						  VFIO_MIGRATION_PRE_COPY),
	       "%s flags %#llx", strerror(ret), (unsigned long long)mig.flags);
	ret = feature(device, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &size,
		      sizeof(size));
	printf("# data size %llu\n", (unsigned long long)size.stop_copy_length);
	result("data_size", !ret && size.stop_copy_length > 48, "%s", strerror(ret));
	result("starts_running", get_state(device) == VFIO_DEVICE_STATE_RUNNING, "state %u",
	       get_state(device));

	every_pair(device);
	irqs_while_resuming(device);

	back_to_running(device);
	ret = set_state(device, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	while (!ret && (got = read(fd, stream + total, sizeof(stream) - total)) > 0)
		total += got;
	printf("# stream %zd bytes\n", total);
	result("stream", !ret && total == (ssize_t)size.stop_copy_length &&
			 !memcmp(stream, "RVFIOMIG", 8),
	       "%s, %zd bytes", strerror(ret), total);
	ret = set_state(device, VFIO_DEVICE_STATE_STOP, &other);
	result("fd_ends_with_session", !ret && read(fd, stream, 1) < 0 && errno == ENODEV,
	       "%s", strerror(errno));
	close(fd);
	back_to_running(device);
	result("reset_runs", get_state(device) == VFIO_DEVICE_STATE_RUNNING, "state %u",
	       get_state(device));
	close(device);

	other = vfio_open_device(argv[2]);
	ret = feature(other, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
		      VFIO_DEVICE_FEATURE_MIGRATION, &mig, sizeof(mig));
	result("other_device_has_none", ret == ENOTTY, "%s", strerror(ret));
	close(other);
	return results_failed ? 1 : 0;
}
