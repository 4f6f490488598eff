// SPDX-License-Identifier: GPL-2.0
/*
 * pasid_ats: what a VMM does with RVFIO_DEVICE_FEATURE_PCI_PASID_ATS.
 *
 * Opens a PCI device bound to rvfio-pci through its VFIO cdev (the iommufd
 * way; through its group where the kernel has no iommufd), asks the driver what the device can do with PASID, ATS and PRI, and
 * picks where in the guest-visible extended config space a synthetic PASID
 * capability would go. rvfio-pci never shows the physical PASID capability;
 * the VMM decides whether and where its guest sees one.
 *
 *   pasid_ats 0000:01:00.0
 *
 * Built with the test programs (tests/build-progs.sh); by hand, from the top
 * of the tree: cc -static -I include/uapi -o pasid_ats <this source>
 */
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
#include <linux/rvfio.h>

/* A synthetic PASID capability: header, capability and control registers. */
#define PASID_CAP_SIZE 8

static void die(const char *what)
{
	fprintf(stderr, "pasid_ats: %s: %s\n", what, strerror(errno));
	exit(1);
}

/*
 * On a kernel without iommufd (Debian's stock kernel has none), opens @bdf's
 * group in a new type1 container and gets the device from it. The feature is
 * the same whichever way the device was opened.
 */
static int open_device_in_group(const char *bdf)
{
	char link[256], target[256], path[300];
	int container, group, device;
	ssize_t len;

	snprintf(link, sizeof(link), "/sys/bus/pci/devices/%s/iommu_group", bdf);
	len = readlink(link, target, sizeof(target) - 1);
	if (len < 0)
		die(link);
	target[len] = 0;
	snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(target, '/') + 1);
	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		die("/dev/vfio/vfio");
	group = open(path, O_RDWR);
	if (group < 0)
		die(path);
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		die("VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		die("VFIO_SET_IOMMU");
	device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (device < 0)
		die("VFIO_GROUP_GET_DEVICE_FD");
	return device;
}

/*
 * Opens /dev/vfio/devices/vfioN of @bdf and binds it to a new iommufd, or
 * opens it through its group when the kernel has no iommufd.
 */
static int open_device(const char *bdf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	char dir[256], path[300] = "";
	struct dirent *d;
	DIR *dp;
	int device;

	if (access("/dev/iommu", F_OK) && errno == ENOENT)
		return open_device_in_group(bdf);
	snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s/vfio-dev", bdf);
	dp = opendir(dir);
	if (!dp)
		die(dir);
	while ((d = readdir(dp)))
		if (!strncmp(d->d_name, "vfio", 4))
			snprintf(path, sizeof(path), "/dev/vfio/devices/%s",
				 d->d_name);
	closedir(dp);

	device = open(path, O_RDWR);
	if (device < 0)
		die(path[0] ? path : "no VFIO cdev");
	bind.iommufd = open("/dev/iommu", O_RDWR);
	if (bind.iommufd < 0)
		die("/dev/iommu");
	if (ioctl(device, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		die("VFIO_DEVICE_BIND_IOMMUFD");
	return device;
}

/*
 * Gets the feature with room for @nr_ranges free ranges. The caller frees the
 * result; its payload follows the vfio_device_feature header.
 */
static struct vfio_device_feature *get_feature(int device, unsigned int nr_ranges)
{
	size_t payload = sizeof(struct rvfio_device_feature_pci_pasid_ats) +
			 nr_ranges * sizeof(struct rvfio_pci_config_range);
	struct vfio_device_feature *feature;

	/* calloc: flags and reserved, the input fields, must be zero. */
	feature = calloc(1, sizeof(*feature) + payload);
	if (!feature)
		die("calloc");
	feature->argsz = sizeof(*feature) + payload;
	feature->flags = VFIO_DEVICE_FEATURE_GET |
			 RVFIO_DEVICE_FEATURE_PCI_PASID_ATS;
	if (ioctl(device, VFIO_DEVICE_FEATURE, feature))
		die("VFIO_DEVICE_FEATURE(GET PCI_PASID_ATS)");
	return feature;
}

static const char *yes(__u32 abilities, __u32 bit)
{
	return abilities & bit ? "yes" : "no";
}

int main(int argc, char **argv)
{
	struct vfio_device_feature probe = {
		.argsz = sizeof(probe),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 RVFIO_DEVICE_FEATURE_PCI_PASID_ATS,
	};
	struct rvfio_device_feature_pci_pasid_ats *info;
	struct vfio_device_feature *feature;
	unsigned int i, placed = 0;
	int device;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	device = open_device(argv[1]);

	/* Anything but rvfio-pci answers ENOTTY: the device is not ours. */
	if (ioctl(device, VFIO_DEVICE_FEATURE, &probe)) {
		if (errno == ENOTTY)
			printf("%s: no PASID/ATS feature (not bound to rvfio-pci?)\n",
			       argv[1]);
		else
			die("VFIO_DEVICE_FEATURE(PROBE PCI_PASID_ATS)");
		return 1;
	}

	/* First ask with no room for ranges, to learn how many there are. */
	feature = get_feature(device, 0);
	info = (void *)feature->data;
	if (info->nr_free_ranges) {
		unsigned int nr = info->nr_free_ranges;

		free(feature);
		feature = get_feature(device, nr);
		info = (void *)feature->data;
	}

	printf("%s:\n", argv[1]);
	printf("  PASID: %s", yes(info->abilities, RVFIO_PCI_ABILITY_PASID));
	if (info->abilities & RVFIO_PCI_ABILITY_PASID)
		printf(" (physical cap at %#x, width %u, exec %s, priv %s)",
		       info->pasid_offset, info->pasid_max_width,
		       yes(info->abilities, RVFIO_PCI_ABILITY_PASID_EXEC),
		       yes(info->abilities, RVFIO_PCI_ABILITY_PASID_PRIV));
	printf("; IOMMU can attach PASIDs: %s\n",
	       yes(info->abilities, RVFIO_PCI_ABILITY_PASID_IOMMU));
	printf("  ATS: %s", yes(info->abilities, RVFIO_PCI_ABILITY_ATS));
	if (info->abilities & RVFIO_PCI_ABILITY_ATS)
		printf(" (cap at %#x, invalidate queue depth %u, page aligned %s)",
		       info->ats_offset, info->ats_invalidate_queue_depth,
		       yes(info->abilities, RVFIO_PCI_ABILITY_ATS_PAGE_ALIGNED));
	printf("\n  PRI: %s", yes(info->abilities, RVFIO_PCI_ABILITY_PRI));
	if (info->abilities & RVFIO_PCI_ABILITY_PRI)
		printf(" (cap at %#x, %u outstanding requests, PRG response PASID %s)",
		       info->pri_offset, info->pri_max_requests,
		       yes(info->abilities,
			   RVFIO_PCI_ABILITY_PRI_PRG_RESPONSE_PASID));
	printf("\n  free extended config space:");
	for (i = 0; i < info->nr_free_ranges; i++)
		printf(" %#x+%#x", info->free_ranges[i].offset,
		       info->free_ranges[i].length);
	printf("%s\n", info->abilities & RVFIO_PCI_ABILITY_LAYOUT_INCOMPLETE ?
		       " (chain broken: incomplete)" : "");

	/*
	 * A VMM offering PASID to its guest puts its own 8-byte capability in
	 * the first free range that holds it, and links it into the chain it
	 * presents. It would only do so when the device and the IOMMU both
	 * can; this sample shows the placement either way.
	 */
	for (i = 0; i < info->nr_free_ranges && !placed; i++) {
		if (info->free_ranges[i].length >= PASID_CAP_SIZE) {
			printf("  synthetic PASID capability would go at %#x\n",
			       info->free_ranges[i].offset);
			placed = 1;
		}
	}
	if (!placed)
		printf("  no room for a synthetic PASID capability\n");

	free(feature);
	close(device);
	return 0;
}
