/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Upstream's DMA logging features (VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
 * _STOP, _REPORT), for the programs on libvfio: rvfio-pci logs an igb's DMA
 * writes from its trapped doorbells (Documentation/migration.rst, "DMA
 * logging"). Reports are in 4 KiB pages.
 */
#ifndef RVFIO_TESTS_DMA_LOG_H
#define RVFIO_TESTS_DMA_LOG_H

#include <stdint.h>
#include <string.h>

#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "migration_uapi.h"

/* Starts logging @count ranges at @page_size; returns 0 or the errno. */
static inline int log_start(struct vfio_pci_device *device, __u64 page_size,
			    struct vfio_device_feature_dma_logging_range *ranges, __u32 count)
{
	struct vfio_device_feature_dma_logging_control control = {
		.page_size = page_size,
		.num_ranges = count,
		.ranges = (__u64)(uintptr_t)ranges,
	};

	return device_feature(device->fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
		       &control, sizeof(control));
}

static inline int log_stop(struct vfio_pci_device *device)
{
	return device_feature(device->fd, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
		       NULL, 0);
}

/* Reports the 4 KiB pages of [@iova, @iova + @length) into @bitmap; 0 or the errno. */
static inline int log_report(struct vfio_pci_device *device, __u64 iova, __u64 length,
			     __u64 *bitmap)
{
	struct vfio_device_feature_dma_logging_report report = {
		.iova = iova,
		.length = length,
		.page_size = SZ_4K,
		.bitmap = (__u64)(uintptr_t)bitmap,
	};

	memset(bitmap, 0, (length / SZ_4K + 63) / 64 * 8);
	return device_feature(device->fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
		       &report, sizeof(report));
}

static inline bool page_set(const __u64 *bitmap, __u64 page)
{
	return bitmap[page / 64] & (1ULL << (page % 64));
}

#endif /* RVFIO_TESTS_DMA_LOG_H */
