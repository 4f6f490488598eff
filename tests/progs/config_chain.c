// SPDX-License-Identifier: GPL-2.0
/*
 * config_chain: the extended capability chain a user sees through a VFIO
 * device's config region, and whether the physical PASID capability's bytes
 * read as zero and drop writes there.
 *
 *   config_chain BDF [PASID_OFFSET]
 *
 * Prints "chain: ID@OFFSET ..." (IDs in hex) and, given the physical PASID
 * offset, "pasid registers: zero|visible" (the capability and control words
 * after its header; a header at 0x100 must stay, to start the chain) and
 * "pasid write: dropped|kept" (all ones to the control word).
 * Exits 1 if the chain breaks (loop or pointer out of range).
 */
#include <stdint.h>

#include "vfio_cdev.h"

static int region_rw(int device, __u64 base, int write, __u32 at, void *buf, size_t len)
{
	ssize_t done = write ? pwrite(device, buf, len, base + at) :
			       pread(device, buf, len, base + at);

	return done == (ssize_t)len ? 0 : -1;
}

int main(int argc, char **argv)
{
	struct vfio_region_info info = { .argsz = sizeof(info),
					 .index = VFIO_PCI_CONFIG_REGION_INDEX };
	unsigned int pasid = argc > 2 ? strtoul(argv[2], NULL, 0) : 0;
	__u32 header, at = 0x100, steps = 0;
	int device;

	if (argc < 2) {
		fprintf(stderr, "usage: %s BDF [PASID_OFFSET]\n", argv[0]);
		return 2;
	}
	device = vfio_open_device(argv[1]);
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &info))
		vfio_cdev_die("VFIO_DEVICE_GET_REGION_INFO");
	printf("chain:");
	while (at) {
		if (at < 0x100 || at > 0xffc || ++steps > 960 ||
		    region_rw(device, info.offset, 0, at, &header, 4)) {
			printf(" BROKEN@%#x\n", at);
			return 1;
		}
		if (!header)
			break;
		printf(" %x@%#x", header & 0xffff, at);
		at = (header >> 20) & 0xffc;
	}
	printf("\n");
	if (pasid) {
		__u8 bytes[8], ones[8], after[8];
		int zero = 1;

		memset(ones, 0xff, sizeof(ones));
		region_rw(device, info.offset, 0, pasid, bytes, 8);
		for (int i = 4; i < 8; i++)
			zero &= !bytes[i];
		printf("pasid registers: %s\n", zero ? "zero" : "visible");
		/* The control register's enable bits, then read back. */
		region_rw(device, info.offset, 1, pasid + 6, ones, 2);
		region_rw(device, info.offset, 0, pasid, after, 8);
		printf("pasid write: %s\n", memcmp(after, bytes, 8) ? "kept" : "dropped");
	}
	close(device);
	return 0;
}
