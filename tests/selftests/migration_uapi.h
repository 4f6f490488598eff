/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Migration through upstream's uAPI, for the tests on libvfio: device
 * features, the v2 state feature and the v1 region's place; and the DMA
 * regions the tests map for the device.
 */
#ifndef RVFIO_TESTS_MIGRATION_UAPI_H
#define RVFIO_TESTS_MIGRATION_UAPI_H

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/vfio.h>

#include <libvfio.h>

/* VFIO_DEVICE_FEATURE with @payload (up to 64 bytes); returns 0 or the errno. */
static inline int device_feature(int fd, __u32 flags, void *payload, size_t size)
{
	unsigned char buf[sizeof(struct vfio_device_feature) + 64] = { 0 };
	struct vfio_device_feature *feature = (void *)buf;
	int ret;

	VFIO_ASSERT_LE(size, 64);
	feature->argsz = sizeof(*feature) + size;
	feature->flags = flags;
	if (size)
		memcpy(feature->data, payload, size);
	ret = ioctl(fd, VFIO_DEVICE_FEATURE, feature) ? errno : 0;
	if (size)
		memcpy(payload, feature->data, size);
	return ret;
}

/* A region of @size bytes of anonymous memory, mapped for the device at a fresh IOVA. */
static inline void region_setup(struct iommu *iommu, struct iova_allocator *allocator,
				struct dma_region *region, u64 size)
{
	region->vaddr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	VFIO_ASSERT_NE(region->vaddr, MAP_FAILED);
	region->iova = iova_allocator_alloc(allocator, size);
	region->size = size;
	iommu_map(iommu, region);
}

static inline void region_teardown(struct iommu *iommu, struct dma_region *region)
{
	iommu_unmap(iommu, region);
	VFIO_ASSERT_EQ(munmap(region->vaddr, region->size), 0);
}

/*
 * Sets the migration state; returns 0 or the errno. *@data_fd gets the data
 * fd the transition opened, or -1.
 */
static inline int set_state(struct vfio_pci_device *device, __u32 state, int *data_fd)
{
	struct vfio_device_feature_mig_state mig = { .device_state = state };
	int ret;

	ret = device_feature(device->fd, VFIO_DEVICE_FEATURE_SET |
			     VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig));
	*data_fd = ret ? -1 : mig.data_fd;
	return ret;
}

/* Sets a state that opens no data fd, and asserts it was reached. */
static inline void reach(struct vfio_pci_device *device, __u32 state)
{
	int fd;

	VFIO_ASSERT_EQ(set_state(device, state, &fd), 0, "state %u\n", state);
	VFIO_ASSERT_EQ(fd, -1);
}

static inline __u32 get_state(struct vfio_pci_device *device)
{
	struct vfio_device_feature_mig_state mig = { 0 };

	VFIO_ASSERT_EQ(device_feature(device->fd, VFIO_DEVICE_FEATURE_GET |
				      VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &mig, sizeof(mig)), 0);
	return mig.device_state;
}

/*
 * Reads region @index's info, with its capabilities, into @buf (@size bytes)
 * and returns the first capability with @id, or NULL.
 */
static inline struct vfio_info_cap_header *region_cap(struct vfio_pci_device *device,
						      __u32 index, __u16 id, void *buf,
						      size_t size)
{
	struct vfio_region_info *info = buf;
	struct vfio_info_cap_header *cap;

	memset(buf, 0, size);
	info->argsz = size;
	info->index = index;
	ioctl_assert(device->fd, VFIO_DEVICE_GET_REGION_INFO, info);
	VFIO_ASSERT_LE(info->argsz, size);
	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (__u32 at = info->cap_offset; at; at = cap->next) {
		cap = buf + at;
		if (cap->id == id)
			return cap;
	}
	return NULL;
}

/* Offset of @device's migration region in its fd, and its size in *@size. */
static inline __u64 v1_region(struct vfio_pci_device *device, __u64 *size)
{
	for (__u32 index = VFIO_PCI_NUM_REGIONS; index < device->info.num_regions; index++) {
		unsigned char buf[256];
		struct vfio_region_info *info = (void *)buf;
		struct vfio_region_info_cap_type *type = (void *)region_cap(
			device, index, VFIO_REGION_INFO_CAP_TYPE, buf, sizeof(buf));

		if (type && type->type == VFIO_REGION_TYPE_MIGRATION_DEPRECATED &&
		    type->subtype == VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED) {
			*size = info->size;
			return info->offset;
		}
	}
	VFIO_FAIL("%s has no migration region\n", device->bdf);
}

#endif /* RVFIO_TESTS_MIGRATION_UAPI_H */
