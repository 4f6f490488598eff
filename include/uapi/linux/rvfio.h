/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rvfio-pci: what the Rust vfio-pci variant driver adds to the VFIO uAPI.
 *
 * Everything else rvfio-pci offers is upstream's linux/vfio.h, unchanged.
 * The full contract, with the errno of every refusal, is in
 * Documentation/uapi.rst.
 */
#ifndef _UAPI_LINUX_RVFIO_H
#define _UAPI_LINUX_RVFIO_H

#include <linux/types.h>
#include <linux/vfio.h>

/*
 * Driver-specific VFIO_DEVICE_FEATURE indices.
 *
 * Upstream allocates feature indices from 0 upwards (0 to 13 in Linux 7.3).
 * rvfio-pci takes its indices from the top 4096 of the 16-bit index space
 * (VFIO_DEVICE_FEATURE_MASK), from RVFIO_DEVICE_FEATURE_BASE up, so they
 * cannot collide with an upstream index. They mean something only on a
 * device bound to rvfio-pci: other drivers answer ENOTTY, which is how a
 * VMM tells that the device is not ours.
 */
#define RVFIO_DEVICE_FEATURE_BASE		0xf000

/*
 * RVFIO_DEVICE_FEATURE_PCI_PASID_ATS: what the device can do with PASID, ATS
 * and PRI, where those capabilities physically are, and which extended config
 * space is free in the layout the user sees.
 *
 * rvfio-pci always hides the physical PASID capability from the config
 * region (out of the chain, its bytes read as zero, writes dropped); a VMM
 * that wants to offer PASID to its guest builds its own capability, in a free
 * range this feature reports.
 *
 * VFIO_DEVICE_FEATURE_PROBE succeeds (GET is supported). GET fills the
 * payload below. SET, with or without PROBE, fails with EINVAL.
 *
 * GET: the payload (argsz minus the vfio_device_feature header) must hold at
 * least the fixed part, sizeof(struct rvfio_device_feature_pci_pasid_ats),
 * else EINVAL. On input, flags and reserved must be zero, else EINVAL; every
 * other field is output only. On output the kernel writes the fixed part and
 * then as many free_ranges[] entries as fit; nr_free_ranges is always the
 * total, so a user who finds it larger than the entries it made room for
 * calls again with a larger argsz. Payload bytes past the last entry written
 * are zeroed, up to RVFIO_PCI_PASID_ATS_MAX_SIZE; bytes past that size are
 * never touched.
 */
#define RVFIO_DEVICE_FEATURE_PCI_PASID_ATS	(RVFIO_DEVICE_FEATURE_BASE + 0)

/* abilities: the device has a PASID capability (registers readable). */
#define RVFIO_PCI_ABILITY_PASID			(1U << 0)
/* PASID Execute Permission Supported. */
#define RVFIO_PCI_ABILITY_PASID_EXEC		(1U << 1)
/* PASID Privileged Mode Supported. */
#define RVFIO_PCI_ABILITY_PASID_PRIV		(1U << 2)
/*
 * The platform IOMMU can attach PASIDs for this device (the IOMMU core found
 * both the device and its IOMMU PASID-capable).
 */
#define RVFIO_PCI_ABILITY_PASID_IOMMU		(1U << 3)
/* The device has an ATS capability (registers readable). */
#define RVFIO_PCI_ABILITY_ATS			(1U << 8)
/* ATS Page Aligned Request. */
#define RVFIO_PCI_ABILITY_ATS_PAGE_ALIGNED	(1U << 9)
/* The device has a PRI capability (registers readable). */
#define RVFIO_PCI_ABILITY_PRI			(1U << 16)
/* PRG Response PASID Required. */
#define RVFIO_PCI_ABILITY_PRI_PRG_RESPONSE_PASID	(1U << 17)
/*
 * The extended capability chain the user sees is broken (a loop, a pointer
 * out of range or a header that does not read): the free ranges account for
 * the capabilities before the break only.
 */
#define RVFIO_PCI_ABILITY_LAYOUT_INCOMPLETE	(1U << 31)

/* A range of config space: offset and length in bytes, both multiples of 4. */
struct rvfio_pci_config_range {
	__u16	offset;
	__u16	length;
};

/* The most free ranges extended config space can hold (960 dwords). */
#define RVFIO_PCI_MAX_FREE_RANGES		480

struct rvfio_device_feature_pci_pasid_ats {
	__u32	flags;			/* in: must be 0; out: 0 */
	__u32	abilities;		/* out: RVFIO_PCI_ABILITY_* */
	__u16	pasid_offset;		/* out: physical PASID capability, 0 if none */
	__u16	ats_offset;		/* out: physical ATS capability, 0 if none */
	__u16	pri_offset;		/* out: physical PRI capability, 0 if none */
	__u8	pasid_max_width;	/* out: Max PASID Width, 0 without PASID */
	__u8	ats_invalidate_queue_depth; /* out: 1-32, 0 without ATS */
	__u32	pri_max_requests;	/* out: Outstanding Page Request Capacity */
	__u16	nr_free_ranges;		/* out: free ranges in all */
	__u16	reserved;		/* in: must be 0; out: 0 */
	struct rvfio_pci_config_range free_ranges[];
};

#define RVFIO_PCI_PASID_ATS_MAX_SIZE					\
	(sizeof(struct rvfio_device_feature_pci_pasid_ats) +		\
	 RVFIO_PCI_MAX_FREE_RANGES * sizeof(struct rvfio_pci_config_range))

/*
 * The v1-layout migration region.
 *
 * A device with migration (VFIO_DEVICE_FEATURE_MIGRATION answers) also has a
 * region of type VFIO_REGION_TYPE_MIGRATION_DEPRECATED and subtype
 * VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED: upstream's
 * struct vfio_device_migration_info at offset 0, its data section where
 * data_offset says. Its device_state drives the same state machine as
 * VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE; the mapping between the two, the
 * order of accesses and every errno are in Documentation/migration.rst.
 *
 * RVFIO_DEVICE_STATE_V1_P2P, with VFIO_DEVICE_STATE_V1_RUNNING, asks for the
 * P2P form of a running state: RUNNING | P2P is VFIO_DEVICE_STATE_RUNNING_P2P
 * and RUNNING | SAVING | P2P is VFIO_DEVICE_STATE_PRE_COPY_P2P. Without
 * RUNNING the bit means nothing (RESUMING | P2P is RESUMING), so clearing
 * RUNNING in a read-modify-write still names a valid state.
 */
#define RVFIO_DEVICE_STATE_V1_P2P		(1U << 3)

/*
 * VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING: the areas of a region that may
 * stay mapped while the device is saving (v2 PRE_COPY, PRE_COPY_P2P,
 * STOP_COPY; v1 _SAVING). Same payload as VFIO_REGION_INFO_CAP_SPARSE_MMAP
 * (struct vfio_region_info_cap_sparse_mmap, version 1); that capability stays
 * the runtime layout. Published on every mmap-able BAR of a device with
 * migration. Entering a saving state fails with EBUSY, and changes nothing,
 * while any mapping of the device covers a page outside these areas; while
 * saving, mmap of such a page fails with EBUSY. Accesses to those pages go
 * through the region's read/write path. See Documentation/migration.rst.
 *
 * The ID is taken from the top of the 16-bit capability ID space, as
 * RVFIO_DEVICE_FEATURE_BASE is: upstream allocates region-info capability
 * IDs from 1 up (5 in Linux 7.3).
 */
#define VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING	0xf000

#endif /* _UAPI_LINUX_RVFIO_H */
