// SPDX-License-Identifier: GPL-2.0
/*
 * pasid_ats_test: RVFIO_DEVICE_FEATURE_PCI_PASID_ATS on a device bound to
 * rvfio-pci, and the config space its user sees.
 *
 *   pasid_ats_test BDF ats|none [TWIN_BDF]
 *
 * "ats": the device must report ATS and neither PASID nor PRI (QEMU's
 * virtio-net-pci,ats=on); "none": none of them (igb). The abilities and the
 * physical offsets are checked against the device's physical config space
 * (sysfs); the free ranges against the layout read back through the VFIO
 * config region; with TWIN_BDF (a twin bound to vfio-pci) the capability
 * chains the two users see must be the same.
 *
 * Prints "RESULT <mode>_<check> PASS|FAIL (detail)" lines, like the guest
 * scripts' lib.sh, and exits 1 if any check failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <linux/rvfio.h>

#include "results.h"
#include "vfio_cdev.h"

#define CFG_SIZE 4096
#define EXT_START 0x100
#define FIXED sizeof(struct rvfio_device_feature_pci_pasid_ats)
#define RANGE sizeof(struct rvfio_pci_config_range)

_Static_assert(sizeof(struct rvfio_device_feature_pci_pasid_ats) == 24,
	       "fixed part is 24 bytes");
_Static_assert(offsetof(struct rvfio_device_feature_pci_pasid_ats, nr_free_ranges) == 20,
	       "nr_free_ranges at 20");
_Static_assert(offsetof(struct rvfio_device_feature_pci_pasid_ats, free_ranges) == 24,
	       "free_ranges at 24");

static const char *mode;
#define result(name, pass, ...) result_of(mode, name, pass, __VA_ARGS__)

/*
 * Calls VFIO_DEVICE_FEATURE for @index with @flags and a payload of
 * @payload_size bytes copied from and back to @payload. Returns 0 or errno.
 */
static int feature(int device, __u32 flags, void *payload, size_t payload_size)
{
	struct vfio_device_feature *f;
	int ret;

	f = calloc(1, sizeof(*f) + payload_size);
	if (!f)
		exit(2);
	f->argsz = sizeof(*f) + payload_size;
	f->flags = flags;
	if (payload_size)
		memcpy(f->data, payload, payload_size);
	ret = ioctl(device, VFIO_DEVICE_FEATURE, f) ? errno : 0;
	if (payload_size)
		memcpy(payload, f->data, payload_size);
	free(f);
	return ret;
}

#define GET (VFIO_DEVICE_FEATURE_GET | RVFIO_DEVICE_FEATURE_PCI_PASID_ATS)

static void check_errno(const char *name, int device, __u32 flags,
			size_t payload_size, int want)
{
	unsigned char payload[RVFIO_PCI_PASID_ATS_MAX_SIZE] = { 0 };
	int got = feature(device, flags, payload, payload_size);

	result(name, got == want, "flags %#x size %zu: got %s, want %s", flags,
	       payload_size, strerror(got), strerror(want));
}

static __u32 le32(const unsigned char *cfg, unsigned int at)
{
	return cfg[at] | cfg[at + 1] << 8 | cfg[at + 2] << 16 |
	       (__u32)cfg[at + 3] << 24;
}

/* Reads the device's physical config space through sysfs. */
static void physical_config(const char *bdf, unsigned char *cfg)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", bdf);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, cfg, CFG_SIZE, 0) != CFG_SIZE) {
		perror(path);
		exit(2);
	}
	close(fd);
}

/* Reads config space as the VFIO user sees it, through the config region. */
static void user_config(int device, unsigned char *cfg)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info),
		.index = VFIO_PCI_CONFIG_REGION_INDEX,
	};

	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &info) ||
	    info.size != CFG_SIZE ||
	    pread(device, cfg, CFG_SIZE, info.offset) != CFG_SIZE) {
		perror("config region");
		exit(2);
	}
}

/* The offset of extended capability @id in @cfg, 0 if absent. */
static unsigned int find_ext(const unsigned char *cfg, unsigned int id)
{
	unsigned int at = EXT_START, hops;

	for (hops = 0; at >= EXT_START && hops < 960; hops++) {
		__u32 header = le32(cfg, at);

		if (!header)
			break;
		if ((header & 0xffff) == id)
			return at;
		at = (header >> 20) & 0xffc;
	}
	return 0;
}

/*
 * Bytes a capability of the IDs QEMU's igb and virtio-net show spans, per
 * the PCI Express Base Specification; 0 for one this test does not know.
 */
static unsigned int ext_len(unsigned int id)
{
	switch (id) {
	case 0x0000: return 4;		/* placeholder header */
	case 0x0001: return 0x48;	/* AER */
	case 0x0003: return 0x0c;	/* Device Serial Number */
	case 0x000e: return 8;		/* ARI */
	case 0x000f: return 8;		/* ATS */
	case 0x0010: return 0x40;	/* SR-IOV */
	default: return 0;
	}
}

/*
 * Computes the free ranges of the extended config space in @cfg into
 * @ranges; returns their number, or -1 with @why set if the layout has a
 * capability this test cannot size or the chain is broken.
 */
static int free_ranges(const unsigned char *cfg, struct rvfio_pci_config_range *ranges,
		       unsigned int *why)
{
	unsigned char used[CFG_SIZE / 4] = { 0 };
	unsigned int at = EXT_START, hops, i;
	int n = 0;

	for (hops = 0; at >= EXT_START && at < CFG_SIZE && hops < 960; hops++) {
		__u32 header = le32(cfg, at);
		unsigned int len = ext_len(header & 0xffff);

		if (!header)
			break;
		if (!len) {
			*why = header & 0xffff;
			return -1;
		}
		for (i = at; i < at + len && i < CFG_SIZE; i += 4)
			used[i / 4] = 1;
		at = (header >> 20) & 0xffc;
	}
	for (i = EXT_START / 4; i < CFG_SIZE / 4; i++) {
		if (used[i])
			continue;
		if (n && ranges[n - 1].offset + ranges[n - 1].length == i * 4) {
			ranges[n - 1].length += 4;
		} else {
			ranges[n].offset = i * 4;
			ranges[n].length = 4;
			n++;
		}
	}
	return n;
}

/* Compares the capability chains of two config spaces: offsets and headers. */
static int same_chains(const unsigned char *a, const unsigned char *b, char *why, size_t len)
{
	unsigned int pa = a[0x34] & 0xfc, pb = b[0x34] & 0xfc, hops;

	for (hops = 0; (pa || pb) && hops < 48; hops++) {
		if (pa != pb || a[pa] != b[pb]) {
			snprintf(why, len, "standard: %#x id %#x vs %#x id %#x", pa,
				 a[pa], pb, b[pb]);
			return 0;
		}
		pa = a[pa + 1] & 0xfc;
		pb = b[pb + 1] & 0xfc;
	}
	pa = pb = EXT_START;
	for (hops = 0; hops < 960; hops++) {
		__u32 ha = le32(a, pa), hb = le32(b, pb);

		if (ha != hb) {
			snprintf(why, len, "extended: %#x: %#x vs %#x", pa, ha, hb);
			return 0;
		}
		if (!ha || !(ha >> 20))
			return 1;
		pa = pb = (ha >> 20) & 0xffc;
	}
	return 1;
}

int main(int argc, char **argv)
{
	unsigned char phys[CFG_SIZE], user[CFG_SIZE], twin[CFG_SIZE];
	unsigned char buf[RVFIO_PCI_PASID_ATS_MAX_SIZE + 64];
	struct rvfio_device_feature_pci_pasid_ats *info = (void *)buf;
	struct rvfio_pci_config_range expect[RVFIO_PCI_MAX_FREE_RANGES];
	unsigned int ats, i, why = 0, written;
	size_t end;
	int device, n, ok;

	if (argc < 3 || argc > 4 || (strcmp(argv[2], "ats") && strcmp(argv[2], "none"))) {
		fprintf(stderr, "usage: %s BDF ats|none [TWIN_BDF]\n", argv[0]);
		return 2;
	}
	mode = argv[2];
	device = vfio_open_device(argv[1]);
	physical_config(argv[1], phys);
	user_config(device, user);

	/* The request rules. */
	check_errno("probe", device, VFIO_DEVICE_FEATURE_PROBE |
		    RVFIO_DEVICE_FEATURE_PCI_PASID_ATS, 0, 0);
	check_errno("probe_get", device, VFIO_DEVICE_FEATURE_PROBE | GET, 0, 0);
	check_errno("probe_set", device, VFIO_DEVICE_FEATURE_PROBE |
		    VFIO_DEVICE_FEATURE_SET | RVFIO_DEVICE_FEATURE_PCI_PASID_ATS, 0, EINVAL);
	check_errno("set", device, VFIO_DEVICE_FEATURE_SET |
		    RVFIO_DEVICE_FEATURE_PCI_PASID_ATS, FIXED, EINVAL);
	check_errno("no_get_no_probe", device, RVFIO_DEVICE_FEATURE_PCI_PASID_ATS,
		    FIXED, EINVAL);
	check_errno("get_empty", device, GET, 0, EINVAL);
	check_errno("get_short", device, GET, FIXED - 1, EINVAL);
	check_errno("unknown_index", device, VFIO_DEVICE_FEATURE_GET |
		    (RVFIO_DEVICE_FEATURE_BASE + 0xfff), FIXED, ENOTTY);
	check_errno("unknown_flag", device, GET | (1U << 19), FIXED, EINVAL);

	memset(buf, 0, sizeof(buf));
	info->flags = 1;
	n = feature(device, GET, buf, FIXED);
	result("flags_nonzero", n == EINVAL, "got %s", strerror(n));
	memset(buf, 0, sizeof(buf));
	info->reserved = 0x100;
	n = feature(device, GET, buf, FIXED);
	result("reserved_nonzero", n == EINVAL, "got %s", strerror(n));

	/* A GET with room for everything, and a canary past the maximum. */
	memset(buf, 0xab, sizeof(buf));
	info->flags = 0;
	info->reserved = 0;
	n = feature(device, GET, buf, sizeof(buf));
	result("get", n == 0, "got %s", strerror(n));
	if (n)
		return 1;
	written = info->nr_free_ranges;
	end = FIXED + written * RANGE;
	for (ok = 1, i = end; i < RVFIO_PCI_PASID_ATS_MAX_SIZE; i++)
		ok &= buf[i] == 0;
	result("zeroed_after_entries", ok, "bytes %zu..%zu", end,
	       (size_t)RVFIO_PCI_PASID_ATS_MAX_SIZE);
	for (ok = 1, i = RVFIO_PCI_PASID_ATS_MAX_SIZE; i < sizeof(buf); i++)
		ok &= buf[i] == 0xab;
	result("untouched_past_max", ok, "bytes past %zu changed",
	       (size_t)RVFIO_PCI_PASID_ATS_MAX_SIZE);
	result("flags_out_zero", info->flags == 0 && info->reserved == 0,
	       "flags %#x reserved %#x", info->flags, info->reserved);

	/* Abilities and offsets against the physical config space. */
	ats = find_ext(phys, 0x0f);
	if (!strcmp(mode, "ats")) {
		__u16 cap = le32(phys, ats + 4) & 0xffff;
		__u32 want = RVFIO_PCI_ABILITY_ATS |
			     (cap & (1 << 5) ? RVFIO_PCI_ABILITY_ATS_PAGE_ALIGNED : 0);
		unsigned int depth = (cap & 0x1f) ? (cap & 0x1f) : 32;

		result("physical_ats", ats != 0, "no ATS in the physical chain");
		result("abilities", info->abilities == want, "%#x, want %#x",
		       info->abilities, want);
		result("ats_offset", info->ats_offset == ats, "%#x, want %#x",
		       info->ats_offset, ats);
		result("ats_depth", info->ats_invalidate_queue_depth == depth,
		       "%u, want %u", info->ats_invalidate_queue_depth, depth);
	} else {
		result("physical_none", !ats && !find_ext(phys, 0x1b) &&
		       !find_ext(phys, 0x13), "physical chain has ATS/PASID/PRI");
		result("abilities", info->abilities == 0, "%#x", info->abilities);
		result("ats_offset", info->ats_offset == 0, "%#x", info->ats_offset);
		result("ats_depth", info->ats_invalidate_queue_depth == 0, "%u",
		       info->ats_invalidate_queue_depth);
	}
	result("pasid_fields", !info->pasid_offset && !info->pasid_max_width,
	       "offset %#x width %u", info->pasid_offset, info->pasid_max_width);
	result("pri_fields", !info->pri_offset && !info->pri_max_requests,
	       "offset %#x requests %u", info->pri_offset, info->pri_max_requests);
	result("no_pasid_in_view", find_ext(user, 0x1b) == 0, "PASID in the user's chain");

	/* Free ranges against the layout read back through the config region. */
	n = free_ranges(user, expect, &why);
	result("layout_sized", n >= 0, "capability %#x of unknown size", why);
	ok = n >= 0 && (unsigned int)n == written;
	for (i = 0; ok && i < written; i++)
		ok = info->free_ranges[i].offset == expect[i].offset &&
		     info->free_ranges[i].length == expect[i].length;
	result("free_ranges_match_layout", ok, "%u ranges, layout has %d", written, n);
	for (i = 0; i < written; i++)
		printf("# %s free %#x+%#x\n", mode, info->free_ranges[i].offset,
		       info->free_ranges[i].length);

	/* Room for one range and half of another: one written, the rest zero. */
	memset(buf, 0xab, sizeof(buf));
	info->flags = 0;
	info->reserved = 0;
	n = feature(device, GET, buf, FIXED + RANGE + 2);
	ok = !n && info->nr_free_ranges == written && written >= 1 &&
	     info->free_ranges[0].offset == expect[0].offset &&
	     info->free_ranges[0].length == expect[0].length &&
	     buf[FIXED + RANGE] == 0 && buf[FIXED + RANGE + 1] == 0;
	result("short_buffer", ok, "ret %s, nr %u", strerror(n), info->nr_free_ranges);

	if (argc == 4) {
		int other = vfio_open_device(argv[3]);
		char why_text[128] = "";

		user_config(other, twin);
		result("same_chains_as_vfio_pci", same_chains(user, twin, why_text,
							      sizeof(why_text)), "%s", why_text);
		close(other);
	}

	printf("# %s abilities %#x pasid %#x ats %#x pri %#x width %u depth %u requests %u ranges %u\n",
	       mode, info->abilities, info->pasid_offset, info->ats_offset,
	       info->pri_offset, info->pasid_max_width,
	       info->ats_invalidate_queue_depth, info->pri_max_requests, written);
	close(device);
	return results_failed ? 1 : 0;
}
