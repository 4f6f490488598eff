/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Opening a PCI device's VFIO cdev the way a VMM does: find
 * /dev/vfio/devices/vfioN in sysfs, open it, bind it to a new iommufd and
 * attach it to a fresh IOAS, and ask to be told when the kernel wants it back.
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

/* Opens @bdf's VFIO cdev, bound to a new iommufd and attached to an IOAS. */
static inline int vfio_cdev_open(const char *bdf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	char dir[256], path[300] = "";
	struct dirent *d;
	int device;
	DIR *dp;

	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dp = opendir(dir);
	if (!dp)
		vfio_cdev_die(dir);
	while ((d = readdir(dp)))
		if (!strncmp(d->d_name, "vfio", 4))
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s", d->d_name);
	closedir(dp);
	if (!path[0]) {
		errno = ENOENT;
		vfio_cdev_die("no vfio cdev");
	}

	bind.iommufd = open("/dev/iommu", O_RDWR);
	if (bind.iommufd < 0)
		vfio_cdev_die("/dev/iommu");
	device = open(path, O_RDWR);
	if (device < 0)
		vfio_cdev_die(path);
	if (ioctl(device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		vfio_cdev_die("VFIO_DEVICE_BIND_IOMMUFD");
	if (ioctl(bind.iommufd, IOMMU_IOAS_ALLOC, &alloc))
		vfio_cdev_die("IOMMU_IOAS_ALLOC");
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(device, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		vfio_cdev_die("VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	return device;
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
