/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a VMM does before it sets a saving state on a device bound to
 * rvfio-pci: read a BAR's VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING and unmap
 * every page of its mapping outside those areas. Accesses to those pages then
 * go through the region's read/write path (in a VM, the VMM traps them).
 */
#ifndef RVFIO_TESTS_SAVING_LAYOUT_H
#define RVFIO_TESTS_SAVING_LAYOUT_H

#include <sys/mman.h>

#include <linux/rvfio.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "migration_uapi.h"

#define SAVING_MAX_AREAS 16

/*
 * Fills @areas with the saving layout of BAR @bar and returns how many areas
 * it has; -1 if the BAR has no such capability.
 */
static inline int saving_areas(struct vfio_pci_device *device, int bar,
			       struct vfio_region_sparse_mmap_area *areas)
{
	unsigned char buf[1024];
	struct vfio_region_info_cap_sparse_mmap *sparse = (void *)region_cap(
		device, bar, VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING, buf, sizeof(buf));

	if (!sparse)
		return -1;
	VFIO_ASSERT_LE(sparse->nr_areas, SAVING_MAX_AREAS);
	for (__u32 i = 0; i < sparse->nr_areas; i++)
		areas[i] = sparse->areas[i];
	return sparse->nr_areas;
}

/*
 * Unmaps the pages of BAR @bar's mapping outside its saving layout; returns
 * how many bytes it unmapped.
 */
static inline __u64 adopt_saving_layout(struct vfio_pci_device *device, int bar)
{
	struct vfio_region_sparse_mmap_area areas[SAVING_MAX_AREAS];
	struct vfio_pci_bar *mapped = &device->bars[bar];
	int count = saving_areas(device, bar, areas);
	__u64 at = 0, unmapped = 0;

	VFIO_ASSERT_GE(count, 0, "BAR %d has no saving layout\n", bar);
	for (int i = 0; i <= count; i++) {
		__u64 end = i < count ? areas[i].offset : mapped->info.size;

		if (end > at) {
			VFIO_ASSERT_EQ(munmap(mapped->vaddr + at, end - at), 0);
			unmapped += end - at;
		}
		if (i < count)
			at = areas[i].offset + areas[i].size;
	}
	return unmapped;
}

#endif /* RVFIO_TESTS_SAVING_LAYOUT_H */
