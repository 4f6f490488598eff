/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VFIO_DEVICE_FEATURE calls and the v2 migration state through them, for the
 * guest programs that drive a device bound to rvfio-pci through the upstream
 * uAPI (mig_states_test, log_flood_test, mmap_layout_test).
 */
#ifndef RVFIO_TESTS_MIG_FEATURE_H
#define RVFIO_TESTS_MIG_FEATURE_H

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "vfio_cdev.h"

/*
 * VFIO_DEVICE_FEATURE with a payload of @size bytes (at most 256) and @argsz
 * as given; the payload is copied back. Returns 0 or errno.
 */
static inline int feature_sized(int device, __u32 flags, void *payload, size_t size,
				__u32 argsz)
{
	unsigned char buf[sizeof(struct vfio_device_feature) + 256] = { 0 };
	struct vfio_device_feature *f = (void *)buf;
	int ret;

	f->argsz = argsz;
	f->flags = flags;
	memcpy(f->data, payload, size);
	ret = ioctl(device, VFIO_DEVICE_FEATURE, f) ? errno : 0;
	memcpy(payload, f->data, size);
	return ret;
}

/* VFIO_DEVICE_FEATURE with a payload of @size bytes (at most 256); returns 0 or errno. */
static inline int feature(int device, __u32 flags, void *payload, size_t size)
{
	return feature_sized(device, flags, payload, size,
			     sizeof(struct vfio_device_feature) + size);
}

/*
 * Sets the migration state; returns 0 or errno. The data fd the transition
 * opened (or -1) goes to @fd; with @fd NULL it is closed.
 */
static inline int set_state(int device, __u32 state, int *fd)
{
	struct vfio_device_feature_mig_state mig = { .device_state = state };
	int ret;

	ret = feature(device, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		      &mig, sizeof(mig));
	if (ret)
		mig.data_fd = -1;
	if (fd)
		*fd = mig.data_fd;
	else if (mig.data_fd >= 0)
		close(mig.data_fd);
	return ret;
}

/* The migration state, or ~0 if it cannot be read. */
static inline __u32 get_state(int device)
{
	struct vfio_device_feature_mig_state mig = { 0 };

	if (feature(device, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
		    &mig, sizeof(mig)))
		return ~0u;
	return mig.device_state;
}

/* Back to RUNNING from anywhere: a reset ends every session. */
static inline void back_to_running(int device)
{
	if (ioctl(device, VFIO_DEVICE_RESET))
		vfio_cdev_die("VFIO_DEVICE_RESET");
}

#endif /* RVFIO_TESTS_MIG_FEATURE_H */
