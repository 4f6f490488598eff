// SPDX-License-Identifier: GPL-2.0
/*
 * mmap_layout_test: the runtime mmap layout an operator chooses for a device
 * bound to rvfio-pci (/sys/bus/pci/devices/BDF/rvfio/mmap_layout), through
 * sysfs and the upstream uAPI only.
 *
 *   mmap_layout_test IGB_BDF
 *
 * "full" (the default) maps BAR 0 whole, as vfio-pci does. Under "saving" the
 * standard VFIO_REGION_INFO_CAP_SPARSE_MMAP lists the saving layout's areas,
 * a mapping that covers a doorbell page fails with EINVAL, the others map,
 * and saving starts with them alive. The layout changes only while no user
 * has the device open (EBUSY), and takes only its two names (EINVAL).
 *
 * Prints "RESULT layout_<check> PASS|FAIL (detail)" lines and exits 1 if any
 * check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/rvfio.h>

#include "mig_feature.h"
#include "region_cap.h"
#include "results.h"
#include "vfio_cdev.h"

#define result(name, pass, ...) result_of("layout", name, pass, __VA_ARGS__)

#define PAGE 4096
/* A doorbell page of the igb's BAR 0 (RX tails) and a page with none (STATUS). */
#define DOORBELL_PAGE 0x2000
#define PLAIN_PAGE 0x0

static char attr[256];

/* Writes @value to the attribute; returns 0 or the errno. */
static int set_layout(const char *value)
{
	int fd = open(attr, O_WRONLY), ret = 0;

	if (fd < 0)
		return errno;
	if (write(fd, value, strlen(value)) < 0)
		ret = errno;
	close(fd);
	return ret;
}

static const char *layout(void)
{
	static char text[64];
	int fd = open(attr, O_RDONLY);
	ssize_t got = fd < 0 ? -1 : read(fd, text, sizeof(text) - 1);

	if (fd >= 0)
		close(fd);
	text[got > 0 ? got : 0] = 0;
	return text;
}

/* Whether one of the capability's areas covers the page at @offset. */
static int covered(const struct vfio_region_info_cap_sparse_mmap *cap, __u64 offset)
{
	for (__u32 i = 0; i < cap->nr_areas; i++) {
		if (cap->areas[i].offset <= offset &&
		    offset + PAGE <= cap->areas[i].offset + cap->areas[i].size)
			return 1;
	}
	return 0;
}

/* Maps @len bytes of BAR 0 at @offset; returns 0 (and unmaps) or the errno. */
static int try_map(int device, const struct vfio_region_info *info, __u64 offset, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		       info->offset + offset);

	if (p == MAP_FAILED)
		return errno;
	munmap(p, len);
	return 0;
}

int main(int argc, char **argv)
{
	struct vfio_region_info_cap_sparse_mmap *sparse, *saving;
	struct vfio_region_info info;
	int device, ret, same = 1;
	void *kept;

	if (argc != 2) {
		fprintf(stderr, "usage: mmap_layout_test IGB_BDF\n");
		return 2;
	}
	snprintf(attr, sizeof(attr), "/sys/bus/pci/devices/%s/rvfio/mmap_layout", argv[1]);

	result("default_full", !strcmp(layout(), "[full] saving\n"), "shows '%s'", layout());
	device = vfio_open_device(argv[1]);
	result("full_has_no_sparse_cap", !bar0_cap(device, VFIO_REGION_INFO_CAP_SPARSE_MMAP, &info),
	       "standard sparse-mmap capability on BAR 0");
	ret = try_map(device, &info, 0, info.size);
	result("full_maps_whole_bar", ret == 0, "%s", strerror(ret));
	ret = set_layout("saving");
	result("refused_while_open", ret == EBUSY, "%s", strerror(ret));
	close(device);

	ret = set_layout("fast\n");
	result("unknown_name_refused", ret == EINVAL, "%s", strerror(ret));
	ret = set_layout("saving\n");
	result("set_while_closed", ret == 0 && !strcmp(layout(), "full [saving]\n"), "%s, shows '%s'",
	       strerror(ret), layout());

	device = vfio_open_device(argv[1]);
	/* Both point into bar0_cap's one buffer, which each call fills with the same answer. */
	sparse = bar0_cap(device, VFIO_REGION_INFO_CAP_SPARSE_MMAP, &info);
	saving = bar0_cap(device, VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING, &info);
	if (sparse && saving && sparse->nr_areas == saving->nr_areas) {
		for (__u32 i = 0; i < sparse->nr_areas; i++)
			same &= sparse->areas[i].offset == saving->areas[i].offset &&
				sparse->areas[i].size == saving->areas[i].size;
	}
	result("sparse_cap_is_saving_layout", sparse && saving && same && sparse->nr_areas > 1,
	       "sparse %p saving %p, %u areas", (void *)sparse, (void *)saving,
	       sparse ? sparse->nr_areas : 0);
	result("sparse_cap_leaves_doorbells_out",
	       sparse && !covered(sparse, DOORBELL_PAGE) && covered(sparse, PLAIN_PAGE),
	       "doorbell page %s, page 0 %s", sparse && covered(sparse, DOORBELL_PAGE) ? "offered" :
	       "left out", sparse && covered(sparse, PLAIN_PAGE) ? "offered" : "left out");
	ret = try_map(device, &info, 0, info.size);
	result("whole_bar_refused", ret == EINVAL, "%s", strerror(ret));
	ret = try_map(device, &info, DOORBELL_PAGE, PAGE);
	result("doorbell_page_refused", ret == EINVAL, "%s", strerror(ret));
	kept = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		    info.offset + PLAIN_PAGE);
	result("plain_page_maps", kept != MAP_FAILED, "%s", strerror(errno));
	ret = set_state(device, VFIO_DEVICE_STATE_PRE_COPY, NULL);
	result("saves_with_mapping_alive", ret == 0, "%s", strerror(ret));
	ret = set_state(device, VFIO_DEVICE_STATE_RUNNING, NULL);
	result("back_to_running", ret == 0, "%s", strerror(ret));
	if (kept != MAP_FAILED)
		munmap(kept, PAGE);
	close(device);

	ret = set_layout("full");
	result("back_to_full", ret == 0 && !strcmp(layout(), "[full] saving\n"), "%s", strerror(ret));
	return results_failed ? 1 : 0;
}
