/* SPDX-License-Identifier: GPL-2.0 */
/*
 * BAR 0's VFIO_DEVICE_GET_REGION_INFO and one capability of its chain, for
 * the guest programs that read a device's mmap layouts (mmap_layout_test,
 * teardown_load).
 */
#ifndef RVFIO_TESTS_REGION_CAP_H
#define RVFIO_TESTS_REGION_CAP_H

#include <string.h>
#include <sys/ioctl.h>

#include <linux/vfio.h>

#include "vfio_cdev.h"

/*
 * BAR 0's region info (to @info) and the capability @id in it, or NULL. The
 * capability points into one static buffer, which the next call fills again.
 */
static inline struct vfio_region_info_cap_sparse_mmap *bar0_cap(int device, __u16 id,
								struct vfio_region_info *info)
{
	static unsigned char buf[4096];
	struct vfio_region_info *got = (void *)buf;
	__u32 at;

	memset(buf, 0, sizeof(buf));
	got->argsz = sizeof(buf);
	got->index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, got))
		vfio_cdev_die("VFIO_DEVICE_GET_REGION_INFO");
	*info = *got;
	if (!(got->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (at = got->cap_offset; at && at < sizeof(buf); ) {
		struct vfio_info_cap_header *cap = (void *)(buf + at);

		if (cap->id == id)
			return (void *)cap;
		at = cap->next;
	}
	return NULL;
}

#endif /* RVFIO_TESTS_REGION_CAP_H */
