/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Header bindgen reads to generate the VFIO bindings of rvfio-pci. Only the
 * VFIO items are emitted; see the allowlist in ../Makefile.
 */
#include <linux/anon_inodes.h>
#include <linux/iova_bitmap.h>
#include <linux/vfio.h>
#include <linux/vfio_pci_core.h>
