/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a PCI device's VFIO cdev the way a VMM does: find
 * /dev/vfio/devices/vfioN in sysfs, open it, bind it to a new iommufd and
 * attach it to a fresh IOAS (or, on a kernel without iommufd, open its group
 * in a type1 container), and ask to be told when the kernel wants it back.
 * Shared by the guest test programs.
 */
#ifndef RVFIO_TESTS_VFIO_CDEV_H
#define RVFIO_TESTS_VFIO_CDEV_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

static void vfio_cdev_die(const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(errno));
	exit(2);
}

/*
 * A device opened through its cdev: the device fd, its iommufd and the IOAS
 * it is attached to.
 */
struct vfio_cdev {
	int device;
	int iommufd;
	__u32 ioas;
};

/*
 * Opens @bdf's VFIO cdev, binds it to a new iommufd and attaches it to a new
 * IOAS. Returns 0, or the errno with the step that failed in *@what and
 * nothing left open.
 */
static inline int vfio_cdev_try_open(const char *bdf, struct vfio_cdev *cdev,
				     const char **what)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char dir[256], path[300] = "";
	struct dirent *d;
	int err = 0;
	DIR *dp;

	cdev->device = -1;
	cdev->iommufd = -1;
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	*what = "no vfio cdev";
	dp = opendir(dir);
	if (!dp)
		return errno;
	while ((d = readdir(dp)))
		if (!strncmp(d->d_name, "vfio", 4))
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->d_name);
	closedir(dp);
	errno = ENOENT;
	if (!path[0])
		return errno;

	*what = "/dev/iommu";
	cdev->iommufd = open("/dev/iommu", O_RDWR);
	if (cdev->iommufd < 0)
		return errno;
	*what = "open of the cdev";
	cdev->device = open(path, O_RDWR);
	if (cdev->device < 0)
		err = errno;
	bind.iommufd = cdev->iommufd;
	if (!err && ioctl(cdev->device, VFIO_DEVICE_BIND_IOMMUFD, &bind)) {
		*what = "VFIO_DEVICE_BIND_IOMMUFD";
		err = errno;
	}
	if (!err && ioctl(cdev->iommufd, IOMMU_IOAS_ALLOC, &alloc)) {
		*what = "IOMMU_IOAS_ALLOC";
		err = errno;
	}
	cdev->ioas = alloc.out_ioas_id;
	attach.pt_id = alloc.out_ioas_id;
	if (!err && ioctl(cdev->device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		*what = "VFIO_DEVICE_ATTACH_IOMMUFD_PT";
		err = errno;
	}
	if (err) {
		if (cdev->device >= 0)
			close(cdev->device);
		close(cdev->iommufd);
		cdev->device = -1;
		cdev->iommufd = -1;
	}
	return err;
}

/*
 * Opens @bdf the legacy way: its group in a new type1 (v2) container, then the
 * device fd from the group. Returns 0 with the device fd in *@device, or the
 * errno with the step that failed in *@what and nothing left open. The group
 * and container fds are closed again: the device fd holds the group, and the
 * group its container, until the device fd is closed.
 */
static inline int vfio_group_try_open(const char *bdf, int *device,
				      const char **what)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char link[256], target[256], path[300];
	int container, group = -1, err = 0;
	ssize_t len;

	*device = -1;
	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	*what = "no IOMMU group";
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		return errno;
	target[len] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(target, '/') + 1);

	*what = "/dev/vfio/vfio";
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		return errno;
	*what = "open of the group";
	group = open(path, O_RDWR);
	if (group < 0)
		err = errno;
	if (!err && ioctl(group, VFIO_GROUP_GET_STATUS, &status)) {
		*what = "VFIO_GROUP_GET_STATUS";
		err = errno;
	}
	if (!err && !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		*what = "group not viable (a device in it is bound to a host driver)";
		err = EBUSY;
	}
	if (!err && ioctl(group, VFIO_GROUP_SET_CONTAINER, &container)) {
		*what = "VFIO_GROUP_SET_CONTAINER";
		err = errno;
	}
	if (!err && ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU)) {
		*what = "VFIO_SET_IOMMU(TYPE1v2)";
		err = errno;
	}
	if (!err) {
		*device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
		if (*device < 0) {
			*what = "VFIO_GROUP_GET_DEVICE_FD";
			err = errno;
		}
	}
	if (group >= 0)
		close(group);
	close(container);
	return err;
}

/*
 * Opens @bdf as a VMM would on this kernel: through its VFIO cdev, bound to a
 * new iommufd and attached to an IOAS, or, on a kernel without iommufd (no
 * /dev/iommu, as Debian's stock kernel), through its group and a type1
 * container. Returns the device fd; dies on failure.
 */
static inline int vfio_open_device(const char *bdf)
{
	struct vfio_cdev cdev;
	const char *what;

	if (access("/dev/iommu", F_OK) && errno == ENOENT)
		errno = vfio_group_try_open(bdf, &cdev.device, &what);
	else
		errno = vfio_cdev_try_open(bdf, &cdev, &what);
	if (errno)
		vfio_cdev_die(what);
	return cdev.device;
}

/*
 * Registers @efd as @device's request eventfd (VFIO_PCI_REQ_IRQ_INDEX): the
 * kernel signals it when it wants the device back, as on unbind or removal.
 */
static inline void vfio_register_request_eventfd(int device, int efd)
{
	struct {
		struct vfio_irq_set set;
		__s32 fd;
	} irq = {
		.set = {
			.argsz = sizeof(irq),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_REQ_IRQ_INDEX,
			.count = 1,
		},
		.fd = efd,
	};

	if (ioctl(device, VFIO_DEVICE_SET_IRQS, &irq))
		vfio_cdev_die("VFIO_DEVICE_SET_IRQS(REQ)");
}

#endif /* RVFIO_TESTS_VFIO_CDEV_H */
