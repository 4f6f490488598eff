/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The IOMMU mode a VMM would use on the running kernel: iommufd where the
 * kernel has it, else the group in a type1 (v2) container, as on Debian's
 * stock kernel, which is built without iommufd.
 */
#ifndef RVFIO_SELFTESTS_IOMMU_MODE_H
#define RVFIO_SELFTESTS_IOMMU_MODE_H

#include <errno.h>
#include <unistd.h>

#include <libvfio.h>

static inline const char *kernel_iommu_mode(void)
{
	if (access("/dev/iommu", F_OK) && errno == ENOENT)
		return MODE_VFIO_TYPE1V2_IOMMU;
	return MODE_IOMMUFD;
}

#endif /* RVFIO_SELFTESTS_IOMMU_MODE_H */
