// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_pci_migration_bench: how long each migration arc takes on an igb bound
 * to rvfio-pci, as a ratio to one device reset of the same device, with the
 * reset of an igb bound to vfio-pci beside it. A benchmark: it prints figures
 * and fails only when an operation fails, never on a time.
 *
 *   vfio_pci_migration_bench RVFIO_BDF VFIO_PCI_BDF [ROUNDS]
 *
 * The rvfio-pci device runs upstream libvfio's igb driver (loopback link up,
 * rings and MSI-X programmed), then each round saves it through PRE_COPY and
 * STOP_COPY and resumes the stream into the same device. Prints one line per
 * arc, "BENCH <what> median <us> us, <ratio> x reset", and the stream size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "migration_uapi.h"
#include "saving_layout.h"
#include "../progs/bench.h"

#define MAX_ROUNDS 100
#define STREAM_MAX SZ_64K

enum arc {
	TO_RUNNING_P2P, P2P_TO_STOP, STOP_TO_RUNNING, TO_PRE_COPY, READ_PRE_COPY,
	TO_STOP_COPY, READ_FINAL, STOP_COPY_TO_STOP, TO_RESUMING, WRITE_STREAM,
	RESUMING_TO_STOP, RESUMED_TO_RUNNING, NR_ARCS
};

static const char *const arc_names[NR_ARCS] = {
	"RUNNING -> RUNNING_P2P", "RUNNING_P2P -> STOP", "STOP -> RUNNING",
	"RUNNING -> PRE_COPY", "read pre-copy record", "PRE_COPY -> STOP_COPY",
	"read final record", "STOP_COPY -> STOP", "STOP -> RESUMING",
	"write stream", "RESUMING -> STOP (load)", "STOP -> RUNNING (resumed)",
};

static double median(double *samples, int count)
{
	qsort(samples, count, sizeof(*samples), compare);
	return count % 2 ? samples[count / 2] :
			   (samples[count / 2 - 1] + samples[count / 2]) / 2;
}

/* Sets the migration state and returns the data fd it opened, or -1. */
static int state_fd(struct vfio_pci_device *device, __u32 state)
{
	int fd;

	VFIO_ASSERT_EQ(set_state(device, state, &fd), 0, "state %u\n", state);
	return fd;
}

/* Reads @fd until the end of the stream or, in pre-copy, its temporary end. */
static size_t read_all(int fd, unsigned char *out, size_t room)
{
	size_t done = 0;
	ssize_t got;

	while ((got = read(fd, out + done, room - done)) > 0)
		done += got;
	VFIO_ASSERT_TRUE(got == 0 || errno == ENOMSG, "read: %s\n", strerror(errno));
	return done;
}

static void write_all(int fd, const unsigned char *in, size_t size)
{
	size_t done = 0;
	ssize_t put;

	while (done < size) {
		put = write(fd, in + done, size - done);
		VFIO_ASSERT_GT(put, 0, "write: %s\n", strerror(errno));
		done += put;
	}
}

/* One round: saves the device through PRE_COPY and resumes the stream into it. */
static size_t round_trip(struct vfio_pci_device *device, double *t)
{
	static unsigned char stream[STREAM_MAX];
	size_t size;
	double start;
	int save, resume;

#define TIMED(arc, expr) do { start = now_us(); expr; t[arc] = now_us() - start; } while (0)
	TIMED(TO_RUNNING_P2P, state_fd(device, VFIO_DEVICE_STATE_RUNNING_P2P));
	TIMED(P2P_TO_STOP, state_fd(device, VFIO_DEVICE_STATE_STOP));
	TIMED(STOP_TO_RUNNING, state_fd(device, VFIO_DEVICE_STATE_RUNNING));

	TIMED(TO_PRE_COPY, save = state_fd(device, VFIO_DEVICE_STATE_PRE_COPY));
	TIMED(READ_PRE_COPY, size = read_all(save, stream, sizeof(stream)));
	TIMED(TO_STOP_COPY, state_fd(device, VFIO_DEVICE_STATE_STOP_COPY));
	TIMED(READ_FINAL, size += read_all(save, stream + size, sizeof(stream) - size));
	TIMED(STOP_COPY_TO_STOP, state_fd(device, VFIO_DEVICE_STATE_STOP));
	close(save);

	TIMED(TO_RESUMING, resume = state_fd(device, VFIO_DEVICE_STATE_RESUMING));
	TIMED(WRITE_STREAM, write_all(resume, stream, size));
	TIMED(RESUMING_TO_STOP, state_fd(device, VFIO_DEVICE_STATE_STOP));
	TIMED(RESUMED_TO_RUNNING, state_fd(device, VFIO_DEVICE_STATE_RUNNING));
	close(resume);
#undef TIMED
	return size;
}

/* Median time of @rounds VFIO_DEVICE_RESETs of @device, in microseconds. */
static double reset_us(struct vfio_pci_device *device, int rounds)
{
	double samples[MAX_ROUNDS];

	for (int i = 0; i < rounds; i++) {
		double start = now_us();

		vfio_pci_device_reset(device);
		samples[i] = now_us() - start;
	}
	return median(samples, rounds);
}

int main(int argc, char *argv[])
{
	static double samples[NR_ARCS][MAX_ROUNDS];
	struct vfio_pci_device *ours, *theirs;
	struct iommu *iommu, *their_iommu;
	double t[NR_ARCS], ours_reset, theirs_reset;
	int rounds = argc > 3 ? atoi(argv[3]) : 10;
	size_t size = 0;

	if (argc < 3 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s RVFIO_BDF VFIO_PCI_BDF [ROUNDS 1-%d]\n", argv[0],
			MAX_ROUNDS);
		return 2;
	}
	iommu = iommu_init(MODE_IOMMUFD);
	ours = vfio_pci_device_init(argv[1], iommu);
	ours->driver.region.vaddr = mmap(NULL, SZ_2M, PROT_READ | PROT_WRITE,
					 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	VFIO_ASSERT_NE(ours->driver.region.vaddr, MAP_FAILED);
	ours->driver.region.iova = 0;
	ours->driver.region.size = SZ_2M;
	iommu_map(iommu, &ours->driver.region);
	vfio_pci_driver_init(ours);
	/* The rounds save the device: its mapping keeps to the saving layout meanwhile. */
	adopt_saving_layout(ours, 0);

	for (int i = 0; i < rounds; i++) {
		size = round_trip(ours, t);
		for (int arc = 0; arc < NR_ARCS; arc++)
			samples[arc][i] = t[arc];
	}
	vfio_pci_driver_remove(ours);
	ours_reset = reset_us(ours, rounds);

	their_iommu = iommu_init(MODE_IOMMUFD);
	theirs = vfio_pci_device_init(argv[2], their_iommu);
	theirs_reset = reset_us(theirs, rounds);

	printf("BENCH %d rounds; stream %zu bytes (pre-copy and final record)\n", rounds, size);
	printf("BENCH %-28s median %9.0f us, %8.4f x reset\n", "reset (rvfio-pci)", ours_reset,
	       1.0);
	printf("BENCH %-28s median %9.0f us, %8.4f x reset\n", "reset (vfio-pci, twin)",
	       theirs_reset, theirs_reset / ours_reset);
	for (int arc = 0; arc < NR_ARCS; arc++) {
		double m = median(samples[arc], rounds);

		printf("BENCH %-28s median %9.0f us, %8.4f x reset\n", arc_names[arc], m,
		       m / ours_reset);
	}

	vfio_pci_device_cleanup(theirs);
	iommu_cleanup(their_iommu);
	iommu_unmap(iommu, &ours->driver.region);
	vfio_pci_device_cleanup(ours);
	iommu_cleanup(iommu);
	return 0;
}
