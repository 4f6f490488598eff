// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_paths_bench: the cost of every path a VMM uses on a device bound to
 * rvfio-pci, beside the same path on its twin bound to the in-tree vfio-pci,
 * in the same run. A benchmark: it prints figures and fails only when an
 * operation fails, never on a time.
 *
 *   vfio_paths_bench [--bar-read OFF] [--bar-scratch OFF] RVFIO_BDF VFIO_PCI_BDF [ROUNDS]
 *   vfio_paths_bench --control [--bar-read OFF] [--bar-scratch OFF] BDF BDF [ROUNDS]
 *
 * --control takes two devices both bound to vfio-pci: the same code on both
 * sides, so its ratios say how far apart two identical paths come out in
 * this VM, the floor under which a ratio of the drivers means nothing.
 *
 * Plain ioctls, so that the two ways of opening a device are explicit: the
 * cdev bound to an iommufd, and the group in a type1 container. Each round
 * takes one sample of every path on each device, after one warm-up round that
 * is not counted. The rvfio-pci device goes first in even rounds and its twin
 * in odd ones (ABBA), and each sample of a path that takes less than 100 ms
 * follows one call that is not timed:
 * both drivers share most of a path's code, so whichever went first would
 * otherwise pay for code and data the other then finds warm (under TCG, the
 * translation of code not run for a while; on hardware, the caches). A sample
 * of a cheap path times a batch of calls and divides. Prints, for each
 * path, "BENCH <path> rvfio-pci median X us (p10 A, p90 B), vfio-pci median
 * Y us (p10 C, p90 D), ratio X/Y".
 *
 * The BAR 0 paths touch two places, which must be harmless to touch:
 *  - reads of 4 bytes, and the first touch of the mapped BAR: the dword at
 *    --bar-read OFF;
 *  - 4 KiB reads and writes, and writes of 4 bytes: the 4 KiB at
 *    --bar-scratch OFF, written back with what was read from it when the
 *    device was opened.
 * Both offsets are multiples of 4; BAR 0 must hold OFF + 4 and OFF + 4 KiB
 * bytes (the program says so and fails otherwise). Both devices of a run use
 * the same offsets. The defaults suit an igb (82576):
 *  - --bar-read 0x8: STATUS, read-only, no side effect;
 *  - --bar-scratch 0x10000: the packet buffer memory (PBM), plain storage
 *    that an idle device does not use. The registers below it are no good
 *    for a 4 KiB access: statistics clear on read (0x4000), the software
 *    semaphore is taken on read (SWSM, 0x5b50), and interrupt causes clear on
 *    read or write (ICR, EICR).
 * A fixture device (tests/fixture) has what its description says:
 * bench-pasid and bench-long-chain a read-only register at 0 and a memory
 * area at 0x1000 (--bar-read 0 --bar-scratch 0x1000).
 * The config write writes back the command register's value, with zero in
 * the status register above it (its error bits are write-one-to-clear).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>
#include <linux/rvfio.h>

#include "bench.h"

#define DEFAULT_ROUNDS 20
#define MAX_ROUNDS 200

/* The defaults of --bar-read and --bar-scratch: an igb's STATUS and PBM. */
#define IGB_STATUS 0x0008
#define IGB_PBM 0x10000
#define SCRATCH_SIZE 4096
#define CONFIG_SIZE 4096

/* Room for a region info and its capability chain. */
#define REGION_INFO_MAX 4096

struct dev {
	const char *bdf;
	const char *driver;
	int ours;			/* bound to rvfio-pci */
	char cdev[64];			/* /dev/vfio/devices/vfioN */
	char group[64];			/* /dev/vfio/N */
	int iommufd;
	__u32 ioas;
	int fd;				/* open for the paths on an open device */
	__u64 config_offset, config_size;
	__u64 bar_offset, bar_size;
	__u32 region_info_argsz;	/* BAR 0's info with its chain */
	__u32 command;			/* config write: the value written back */
	int probe_errno;		/* what the migration PROBE answered */
	__u32 scratch[SCRATCH_SIZE / 4];	/* PBM as read at open */
};

struct path {
	const char *name;
	int batch;			/* calls per sample */
	int ours_only;			/* rvfio-pci's own feature */
	int closed;			/* runs on a closed device */
	int slow;			/* 100 ms or more: no untimed call first */
	void (*run)(struct dev *d);
};

/* Where the BAR 0 paths read 4 bytes, and the 4 KiB they read and write. */
static __u64 bar_read_at = IGB_STATUS;
static __u64 bar_scratch_at = IGB_PBM;

/* Fails unless @d's BAR 0 holds @size bytes at @offset, asked for by @option. */
static void check_bar_room(struct dev *d, const char *option, __u64 offset, __u64 size)
{
	if (offset <= d->bar_size && size <= d->bar_size - offset)
		return;
	fprintf(stderr,
		"vfio_paths_bench: %s: BAR 0 is %#llx bytes, too small for %s %#llx (%#llx bytes from there)\n",
		d->bdf, (unsigned long long)d->bar_size, option,
		(unsigned long long)offset, (unsigned long long)size);
	exit(1);
}

static void region_info(struct dev *d, __u32 index, __u64 *offset, __u64 *size)
{
	struct vfio_region_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &info))
		bench_die(d->bdf, "VFIO_DEVICE_GET_REGION_INFO");
	*offset = info.offset;
	*size = info.size;
}

static void pread_all(struct dev *d, void *buf, size_t size, __u64 offset)
{
	if (pread(d->fd, buf, size, offset) != (ssize_t)size)
		bench_die(d->bdf, "pread");
}

static void pwrite_all(struct dev *d, const void *buf, size_t size, __u64 offset)
{
	if (pwrite(d->fd, buf, size, offset) != (ssize_t)size)
		bench_die(d->bdf, "pwrite");
}

/* Opens @d's cdev, bound to its iommufd and attached to its IOAS. */
static int cdev_open(struct dev *d)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind), .iommufd = d->iommufd,
	};
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach), .pt_id = d->ioas,
	};
	int fd = open(d->cdev, O_RDWR);

	if (fd < 0)
		bench_die(d->bdf, d->cdev);
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		bench_die(d->bdf, "VFIO_DEVICE_BIND_IOMMUFD");
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		bench_die(d->bdf, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");
	return fd;
}

/* Opens @d for the paths on an open device and learns its layout. */
static void open_device(struct dev *d)
{
	struct vfio_region_info info = {
		.argsz = sizeof(info), .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	__u32 dword;

	d->fd = cdev_open(d);
	region_info(d, VFIO_PCI_CONFIG_REGION_INDEX, &d->config_offset, &d->config_size);
	region_info(d, VFIO_PCI_BAR0_REGION_INDEX, &d->bar_offset, &d->bar_size);
	if (d->config_size > CONFIG_SIZE)
		d->config_size = CONFIG_SIZE;
	check_bar_room(d, "--bar-read", bar_read_at, sizeof(__u32));
	check_bar_room(d, "--bar-scratch", bar_scratch_at, SCRATCH_SIZE);
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, &info))
		bench_die(d->bdf, "VFIO_DEVICE_GET_REGION_INFO(BAR 0)");
	d->region_info_argsz = info.argsz;
	if (d->region_info_argsz > REGION_INFO_MAX) {
		errno = E2BIG;
		bench_die(d->bdf, "BAR 0's capability chain");
	}
	pread_all(d, &dword, sizeof(dword), d->config_offset + PCI_COMMAND);
	d->command = dword & 0xffff;
	pread_all(d, d->scratch, sizeof(d->scratch), d->bar_offset + bar_scratch_at);
}

static void close_device(struct dev *d)
{
	close(d->fd);
	d->fd = -1;
}

static void config_read(struct dev *d)
{
	__u32 id;

	pread_all(d, &id, sizeof(id), d->config_offset + PCI_VENDOR_ID);
}

static void config_write(struct dev *d)
{
	pwrite_all(d, &d->command, sizeof(d->command), d->config_offset + PCI_COMMAND);
}

static void config_scan(struct dev *d)
{
	__u32 dword;
	__u64 at;

	for (at = 0; at < d->config_size; at += sizeof(dword))
		pread_all(d, &dword, sizeof(dword), d->config_offset + at);
}

static void bar_read4(struct dev *d)
{
	__u32 dword;

	pread_all(d, &dword, sizeof(dword), d->bar_offset + bar_read_at);
}

static void bar_write4(struct dev *d)
{
	pwrite_all(d, d->scratch, sizeof(d->scratch[0]), d->bar_offset + bar_scratch_at);
}

static void bar_read4k(struct dev *d)
{
	static __u32 buf[SCRATCH_SIZE / 4];

	pread_all(d, buf, sizeof(buf), d->bar_offset + bar_scratch_at);
}

static void bar_write4k(struct dev *d)
{
	pwrite_all(d, d->scratch, sizeof(d->scratch), d->bar_offset + bar_scratch_at);
}

static void bar_mmap(struct dev *d)
{
	__u32 *bar;
	void *map;

	map = mmap(NULL, d->bar_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
		   d->bar_offset);
	if (map == MAP_FAILED)
		bench_die(d->bdf, "mmap(BAR 0)");
	bar = map;
	/* The first touch: a load the compiler must make (it faults the page in). */
	(void)__atomic_load_n(&bar[bar_read_at / 4], __ATOMIC_RELAXED);
	if (munmap(map, d->bar_size))
		bench_die(d->bdf, "munmap(BAR 0)");
}

static void get_region_info(struct dev *d)
{
	static __u64 buf[REGION_INFO_MAX / 8];
	struct vfio_region_info *info = (void *)buf;

	info->argsz = d->region_info_argsz;
	info->index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, info))
		bench_die(d->bdf, "VFIO_DEVICE_GET_REGION_INFO(BAR 0, chain)");
}

/*
 * vfio-pci has no migration, nor has rvfio-pci on a device without a
 * migration personality (a fixture device): their answer, ENOTTY, is the path
 * measured.
 */
static void probe_migration(struct dev *d)
{
	struct vfio_device_feature feature = {
		.argsz = sizeof(feature),
		.flags = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
	};

	d->probe_errno = ioctl(d->fd, VFIO_DEVICE_FEATURE, &feature) ? errno : 0;
	if (d->probe_errno && d->probe_errno != ENOTTY)
		bench_die(d->bdf, "VFIO_DEVICE_FEATURE(PROBE MIG_DEVICE_STATE)");
}

static void get_pasid_ats(struct dev *d)
{
	static __u64 buf[(sizeof(struct vfio_device_feature) +
			  RVFIO_PCI_PASID_ATS_MAX_SIZE + 7) / 8];
	struct vfio_device_feature *feature = (void *)buf;

	/* flags and reserved, the input fields, must be zero. */
	memset(buf, 0, sizeof(struct vfio_device_feature) +
	       sizeof(struct rvfio_device_feature_pci_pasid_ats));
	feature->argsz = sizeof(struct vfio_device_feature) + RVFIO_PCI_PASID_ATS_MAX_SIZE;
	feature->flags = VFIO_DEVICE_FEATURE_GET | RVFIO_DEVICE_FEATURE_PCI_PASID_ATS;
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, feature))
		bench_die(d->bdf, "VFIO_DEVICE_FEATURE(GET PCI_PASID_ATS)");
}

static void reset(struct dev *d)
{
	if (ioctl(d->fd, VFIO_DEVICE_RESET))
		bench_die(d->bdf, "VFIO_DEVICE_RESET");
}

/* Open, bind to the iommufd, attach to the IOAS, close. */
static void open_cdev(struct dev *d)
{
	close(cdev_open(d));
}

/* A container, the group in it, type1v2, the device fd; then all closed. */
static void open_group(struct dev *d)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int container, group, fd;

	container = open("/dev/vfio/vfio", O_RDWR);
	if (container < 0)
		bench_die(d->bdf, "/dev/vfio/vfio");
	group = open(d->group, O_RDWR);
	if (group < 0)
		bench_die(d->bdf, d->group);
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &status))
		bench_die(d->bdf, "VFIO_GROUP_GET_STATUS");
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		errno = EPERM;
		bench_die(d->bdf, "group not viable");
	}
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container))
		bench_die(d->bdf, "VFIO_GROUP_SET_CONTAINER");
	if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		bench_die(d->bdf, "VFIO_SET_IOMMU(TYPE1v2)");
	fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	if (fd < 0)
		bench_die(d->bdf, "VFIO_GROUP_GET_DEVICE_FD");
	close(fd);
	close(group);
	close(container);
}

static const struct path paths[] = {
	{ "config read 4 B",		64, 0, 0, 0, config_read },
	{ "config write 4 B",		64, 0, 0, 0, config_write },
	{ "config scan 4 KiB",		1, 0, 0, 0, config_scan },
	{ "BAR0 read 4 B",		64, 0, 0, 0, bar_read4 },
	{ "BAR0 write 4 B",		64, 0, 0, 0, bar_write4 },
	{ "BAR0 read 4 KiB",		1, 0, 0, 0, bar_read4k },
	{ "BAR0 write 4 KiB",		1, 0, 0, 0, bar_write4k },
	{ "BAR0 mmap+touch+munmap",	8, 0, 0, 0, bar_mmap },
	{ "GET_REGION_INFO BAR0+caps",	64, 0, 0, 0, get_region_info },
	{ "FEATURE PROBE migration",	64, 0, 0, 0, probe_migration },
	{ "FEATURE GET PASID/ATS",	64, 1, 0, 0, get_pasid_ats },
	{ "DEVICE_RESET",		1, 0, 0, 1, reset },
	{ "open+close cdev/iommufd",	1, 0, 1, 1, open_cdev },
	{ "open+close group/type1",	1, 0, 1, 1, open_group },
};

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define NR_PATHS ARRAY_SIZE(paths)

static double samples[NR_PATHS][2][MAX_ROUNDS];

static void setup(struct dev *d, const char *bdf, const char *driver, int ours)
{
	char group[32];

	d->bdf = bdf;
	d->driver = driver;
	d->ours = ours;
	d->fd = -1;
	bench_bound_to(bdf, driver);
	sysfs_link(bdf, "iommu_group", group, sizeof(group));
	snprintf(d->group, sizeof(d->group), "/dev/vfio/%s", group);
	find_cdev(d->bdf, d->cdev, sizeof(d->cdev));
	bench_iommufd(bdf, &d->iommufd, &d->ioas);
}

/*
 * One sample of path @p on @d, in microseconds per call, after a call not
 * timed unless the path is slow (what it waits for dwarfs what is cold).
 */
static double sample(const struct path *p, struct dev *d)
{
	double start;
	int i;

	if (!p->slow)
		p->run(d);
	start = now_us();
	for (i = 0; i < p->batch; i++)
		p->run(d);
	return (now_us() - start) / p->batch;
}

/*
 * One round: each path on both devices, the rvfio-pci device first in even
 * rounds. The paths on an open device first, then those that open and close
 * it themselves (a cdev and a group cannot both have the device open).
 */
static void round_of(struct dev *devs, int round)
{
	unsigned int p;
	int i, k;

	for (k = 0; k < 2; k++)
		open_device(&devs[k]);
	for (p = 0; p < NR_PATHS; p++) {
		if (paths[p].closed)
			continue;
		for (i = 0; i < 2; i++) {
			k = i ^ (round & 1);
			if (!paths[p].ours_only || devs[k].ours)
				samples[p][k][round] = sample(&paths[p], &devs[k]);
		}
	}
	for (k = 0; k < 2; k++)
		close_device(&devs[k]);
	for (p = 0; p < NR_PATHS; p++) {
		if (!paths[p].closed)
			continue;
		for (i = 0; i < 2; i++) {
			k = i ^ (round & 1);
			samples[p][k][round] = sample(&paths[p], &devs[k]);
		}
	}
}

static void report(const struct path *p, const struct dev *devs, double (*s)[MAX_ROUNDS],
		   int rounds)
{
	double ours, theirs;

	if (p->ours_only && !devs[0].ours)
		return;
	qsort(s[0], rounds, sizeof(double), compare);
	ours = percentile(s[0], rounds, 50);
	printf("BENCH %-26s %s median %10.2f us (p10 %10.2f, p90 %10.2f), ", p->name,
	       devs[0].driver, ours, percentile(s[0], rounds, 10), percentile(s[0], rounds, 90));
	if (p->ours_only) {
		printf("%s %-45s ratio %7s\n", devs[1].driver, "(no such feature)", "-");
		return;
	}
	qsort(s[1], rounds, sizeof(double), compare);
	theirs = percentile(s[1], rounds, 50);
	printf("%s median %10.2f us (p10 %10.2f, p90 %10.2f), ratio %7.4f\n", devs[1].driver,
	       theirs, percentile(s[1], rounds, 10), percentile(s[1], rounds, 90),
	       ours / theirs);
}

static int print_usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [--control] [--bar-read OFF] [--bar-scratch OFF] RVFIO_BDF VFIO_PCI_BDF [ROUNDS 1-%d]\n",
		prog, MAX_ROUNDS);
	return 2;
}

/* A BAR 0 offset given to @option: a number, a multiple of 4; 0 if not. */
static int bar_offset_arg(const char *option, const char *arg, __u64 *offset)
{
	char *end;

	errno = 0;
	*offset = strtoull(arg, &end, 0);
	if (errno || end == arg || *end || *offset % 4) {
		fprintf(stderr, "vfio_paths_bench: %s %s: not a number that is a multiple of 4\n", option, arg);
		return 0;
	}
	return 1;
}

int main(int argc, char *argv[])
{
	const char *prog = argv[0];
	struct dev *devs;
	unsigned int p;
	int rounds, i;
	int arg = 1, control = 0;

	while (arg < argc && !strncmp(argv[arg], "--", 2)) {
		if (!strcmp(argv[arg], "--control")) {
			control = 1;
			arg++;
			continue;
		}
		if (arg + 1 >= argc)
			return print_usage(prog);
		if (!strcmp(argv[arg], "--bar-read")) {
			if (!bar_offset_arg(argv[arg], argv[arg + 1], &bar_read_at))
				return 2;
		} else if (!strcmp(argv[arg], "--bar-scratch")) {
			if (!bar_offset_arg(argv[arg], argv[arg + 1], &bar_scratch_at))
				return 2;
		} else {
			return print_usage(prog);
		}
		arg += 2;
	}
	argc -= arg - 1;
	argv += arg - 1;
	rounds = argc > 3 ? atoi(argv[3]) : DEFAULT_ROUNDS;
	if (argc < 3 || argc > 4 || rounds < 1 || rounds > MAX_ROUNDS)
		return print_usage(prog);
	devs = calloc(2, sizeof(*devs));
	if (!devs)
		bench_die(argv[1], "calloc");
	setup(&devs[0], argv[1], control ? "vfio-pci" : "rvfio-pci", !control);
	setup(&devs[1], argv[2], "vfio-pci", 0);

	/* A warm-up round, not counted: caches, first faults, lazy setup. */
	round_of(devs, 0);
	for (i = 0; i < rounds; i++)
		round_of(devs, i);

	printf("BENCH %d rounds%s, %s %s, %s %s; us per call\n", rounds,
	       control ? " (control: one driver on both)" : "", devs[0].driver, argv[1],
	       devs[1].driver, argv[2]);
	for (p = 0; p < NR_PATHS; p++)
		report(&paths[p], devs, samples[p], rounds);
	/* What the two drivers answered differs on two paths: say how. */
	printf("BENCH region info argsz with chain: %s %u, %s %u\n", devs[0].driver,
	       devs[0].region_info_argsz, devs[1].driver, devs[1].region_info_argsz);
	printf("BENCH migration PROBE answers: %s %s, %s %s\n", devs[0].driver,
	       devs[0].probe_errno ? strerror(devs[0].probe_errno) : "supported", devs[1].driver,
	       devs[1].probe_errno ? strerror(devs[1].probe_errno) : "supported");
	printf("BENCH BAR 0 of %#llx bytes: 4-byte reads at %#llx, 4 KiB scratch at %#llx\n",
	       (unsigned long long)devs[0].bar_size, (unsigned long long)bar_read_at,
	       (unsigned long long)bar_scratch_at);
	return 0;
}
