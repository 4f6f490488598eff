// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_mmap_scaling: how the cost of a mapping, and of entering a saving
 * state, grows with the number of live mappings of a device bound to
 * rvfio-pci, whose mapping tracker (drivers/vfio/pci/rvfio/vfio/mappings.rs)
 * records every VMA of its BARs; beside the same mapping on its twin bound to
 * the in-tree vfio-pci, in the same run. A benchmark: it prints figures and
 * fails only when an operation fails, never on a time.
 *
 *   vfio_mmap_scaling RVFIO_BDF VFIO_PCI_BDF [ROUNDS]
 *
 * N, for N in 1, 16, 256 and 4096, is the number of live mappings of BAR 0
 * of a device during each timed operation, the timed one included: the
 * program holds N - 1 mappings of one page of BAR 0 on each device, then
 *  - times mmap + first touch + munmap of one more page (the Nth mapping),
 *    on both devices, a batch of calls per sample after one call not timed:
 *    the newest mapping goes away;
 *  - times munmap of the oldest mapping instead: maps the Nth page
 *    (untimed), then unmaps the oldest of the N live, which the Nth replaces
 *    among the held ones (a batch per sample);
 *  - on rvfio-pci only (vfio-pci has no migration), maps the Nth page and
 *    holds it, times the arc RUNNING -> PRE_COPY of
 *    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE (the tracker checks every live
 *    mapping against the trapped doorbell pages) and, separately, the arc
 *    PRE_COPY -> RUNNING (the data fd, not read, is closed between the two,
 *    untimed), then unmaps it.
 * The rvfio-pci device goes first in even rounds and its twin in odd ones
 * (ABBA): both drivers share most of a path's code, which whichever went
 * first would otherwise find cold. One warm-up round per N is not counted.
 * Prints, per N, "BENCH scaling N=<N>
 * mmap+touch+munmap rvfio-pci median X us (p10 A, p90 B), vfio-pci median
 * Y us (p10 C, p90 D), ratio X/Y", the same for "munmap oldest", one line per
 * arc, and one line with the time taken to make and to remove the N - 1 held
 * mappings (one sample, taken before the warm-up: first-time costs in).
 *
 * Every mapping, held or timed, maps the same page, one that is not trapped
 * while saving. Of two pages the touch may read harmlessly, the page of
 * STATUS (0x0008, read-only, no side effect) and the first page of the packet
 * buffer memory (PBM, 0x10000, plain storage), the first that lies whole in
 * an area of the rvfio-pci device's VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING
 * (include/uapi/linux/rvfio.h). The twin maps the same page.
 * Held mappings are not touched. Each mapping is its own VMA: the kernel never
 * merges VM_PFNMAP mappings.
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
#include <linux/vfio.h>
#include <linux/rvfio.h>

#include "bench.h"

#define DEFAULT_ROUNDS 10
#define MAX_ROUNDS 200
#define MMAP_BATCH 8			/* mmap + touch + munmap per sample */
#define MAX_LIVE 4096

#define IGB_STATUS 0x0008
#define IGB_PBM 0x10000

/* Room for a region info and its capability chain. */
#define REGION_INFO_MAX 4096

static const int live_counts[] = { 1, 16, 256, MAX_LIVE };

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct dev {
	const char *bdf;
	const char *driver;
	int ours;			/* bound to rvfio-pci */
	char cdev[64];			/* /dev/vfio/devices/vfioN */
	int iommufd;
	__u32 ioas;
	int fd;
	__u64 bar_offset, bar_size;
	__u64 page;			/* offset in BAR 0 of the page mapped */
	__u32 touch;			/* offset in that page of the dword touched */
	void *held[MAX_LIVE];		/* the held mappings, a ring */
	int nr_held, oldest;		/* how many, and where the oldest is */
};

static long page_size;

/*
 * Opens @d's cdev, bound to an iommufd and attached to an IOAS, and reads
 * BAR 0's info with its capability chain into @buf.
 */
static void open_device(struct dev *d, const char *bdf, const char *driver, int ours,
			__u64 *buf)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct vfio_region_info *info = (void *)buf;

	d->bdf = bdf;
	d->driver = driver;
	d->ours = ours;
	bench_bound_to(bdf, driver);
	find_cdev(d->bdf, d->cdev, sizeof(d->cdev));
	bench_iommufd(bdf, &d->iommufd, &d->ioas);
	d->fd = open(d->cdev, O_RDWR);
	if (d->fd < 0)
		bench_die(bdf, d->cdev);
	bind.iommufd = d->iommufd;
	if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		bench_die(bdf, "VFIO_DEVICE_BIND_IOMMUFD");
	attach.pt_id = d->ioas;
	if (ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		bench_die(bdf, "VFIO_DEVICE_ATTACH_IOMMUFD_PT");

	memset(buf, 0, REGION_INFO_MAX);
	info->argsz = REGION_INFO_MAX;
	info->index = VFIO_PCI_BAR0_REGION_INDEX;
	if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, info))
		bench_die(bdf, "VFIO_DEVICE_GET_REGION_INFO(BAR 0)");
	if (info->argsz > REGION_INFO_MAX) {
		errno = E2BIG;
		bench_die(bdf, "BAR 0's capability chain");
	}
	if (!(info->flags & VFIO_REGION_INFO_FLAG_MMAP) || info->size < IGB_PBM + (__u64)page_size) {
		errno = EINVAL;
		bench_die(bdf, "BAR 0 is not an igb's mmap-able BAR");
	}
	d->bar_offset = info->offset;
	d->bar_size = info->size;
}

/* BAR 0's capability with @id in @buf, as read by open_device(), or NULL. */
static struct vfio_info_cap_header *region_cap(__u64 *buf, __u16 id)
{
	struct vfio_region_info *info = (void *)buf;
	struct vfio_info_cap_header *cap;
	__u32 at;

	if (!(info->flags & VFIO_REGION_INFO_FLAG_CAPS))
		return NULL;
	for (at = info->cap_offset; at; at = cap->next) {
		if (at + sizeof(*cap) > REGION_INFO_MAX)
			return NULL;
		cap = (void *)((char *)buf + at);
		if (cap->id == id)
			return cap;
	}
	return NULL;
}

/*
 * Picks the page the mappings map on the rvfio-pci device @d: the first of
 * the two harmless candidates that lies whole in an area of BAR 0's saving
 * layout (@buf holds BAR 0's info).
 */
static void pick_page(struct dev *d, __u64 *buf)
{
	static const struct { __u64 page; __u32 touch; } candidates[] = {
		{ IGB_STATUS & ~0xfffULL, IGB_STATUS & 0xfff },
		{ IGB_PBM, 0 },
	};
	struct vfio_region_info_cap_sparse_mmap *saving;
	unsigned int c, a;

	saving = (void *)region_cap(buf, VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING);
	if (!saving) {
		errno = ENOENT;
		bench_die(d->bdf, "BAR 0 has no VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING");
	}
	if ((char *)&saving->areas[saving->nr_areas] > (char *)buf + REGION_INFO_MAX) {
		errno = E2BIG;
		bench_die(d->bdf, "BAR 0's saving areas");
	}
	for (c = 0; c < ARRAY_SIZE(candidates); c++) {
		__u64 start = candidates[c].page & ~(__u64)(page_size - 1);

		for (a = 0; a < saving->nr_areas; a++) {
			const struct vfio_region_sparse_mmap_area *area = &saving->areas[a];

			if (area->offset <= start &&
			    start + page_size <= area->offset + area->size) {
				d->page = start;
				d->touch = candidates[c].page - start + candidates[c].touch;
				return;
			}
		}
	}
	errno = EBUSY;
	bench_die(d->bdf, "neither STATUS's page nor PBM's is in the saving layout");
}

static void *map_page(struct dev *d)
{
	void *map = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd,
			 d->bar_offset + d->page);

	if (map == MAP_FAILED)
		bench_die(d->bdf, "mmap(BAR 0 page)");
	return map;
}

static void unmap_page(struct dev *d, void *map)
{
	if (munmap(map, page_size))
		bench_die(d->bdf, "munmap(BAR 0 page)");
}

/* The timed path: mmap, the first touch (a load that faults the page in), munmap. */
static void mmap_touch_munmap(struct dev *d)
{
	char *map = map_page(d);

	(void)__atomic_load_n((__u32 *)(map + d->touch), __ATOMIC_RELAXED);
	unmap_page(d, map);
}

/* One sample of mmap_touch_munmap() on @d, in microseconds per call. */
static double sample_mmap(struct dev *d)
{
	double start;
	int i;

	mmap_touch_munmap(d);
	start = now_us();
	for (i = 0; i < MMAP_BATCH; i++)
		mmap_touch_munmap(d);
	return (now_us() - start) / MMAP_BATCH;
}

/*
 * One sample of munmap of the oldest live mapping of @d, in microseconds per
 * call: each call maps one more page (untimed), unmaps the oldest mapping,
 * and holds the new one in its place.
 */
static double sample_munmap_oldest(struct dev *d)
{
	double start, total = 0;
	void *victim, *nth;
	int i;

	for (i = 0; i < MMAP_BATCH; i++) {
		nth = map_page(d);
		victim = nth;
		if (d->nr_held) {
			victim = d->held[d->oldest];
			d->held[d->oldest] = nth;
			d->oldest = (d->oldest + 1) % d->nr_held;
		}
		start = now_us();
		unmap_page(d, victim);
		total += now_us() - start;
	}
	return total / MMAP_BATCH;
}

/* Sets the migration state of @d; returns the data fd the arc opened, or -1. */
static int set_state(struct dev *d, __u32 state)
{
	__u64 buf[(sizeof(struct vfio_device_feature) +
		   sizeof(struct vfio_device_feature_mig_state) + 7) / 8] = { 0 };
	struct vfio_device_feature *feature = (void *)buf;
	struct vfio_device_feature_mig_state *mig = (void *)feature->data;

	feature->argsz = sizeof(struct vfio_device_feature) + sizeof(*mig);
	feature->flags = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	mig->device_state = state;
	mig->data_fd = -1;
	if (ioctl(d->fd, VFIO_DEVICE_FEATURE, feature))
		bench_die(d->bdf, state == VFIO_DEVICE_STATE_PRE_COPY ?
			    "VFIO_DEVICE_FEATURE(SET MIG_DEVICE_STATE PRE_COPY)" :
			    "VFIO_DEVICE_FEATURE(SET MIG_DEVICE_STATE RUNNING)");
	return mig->data_fd;
}

/*
 * One sample of each saving arc on the rvfio-pci device @d, with the Nth
 * mapping held: @enter gets RUNNING -> PRE_COPY, @leave PRE_COPY -> RUNNING,
 * in microseconds: the ioctl alone. The data fd is closed, unread, between
 * the two, outside both figures.
 */
static void sample_saving(struct dev *d, double *enter, double *leave)
{
	void *nth = map_page(d);
	double start;
	int data_fd;

	start = now_us();
	data_fd = set_state(d, VFIO_DEVICE_STATE_PRE_COPY);
	*enter = now_us() - start;
	if (data_fd < 0) {
		errno = EBADF;
		bench_die(d->bdf, "RUNNING -> PRE_COPY opened no data fd");
	}
	close(data_fd);
	start = now_us();
	data_fd = set_state(d, VFIO_DEVICE_STATE_RUNNING);
	*leave = now_us() - start;
	if (data_fd >= 0)
		close(data_fd);
	unmap_page(d, nth);
}

/* Holds @count mappings on @d; returns the time taken, in milliseconds. */
static double hold(struct dev *d, int count)
{
	double start = now_us();

	d->oldest = 0;
	for (d->nr_held = 0; d->nr_held < count; d->nr_held++)
		d->held[d->nr_held] = map_page(d);
	return (now_us() - start) / 1e3;
}

/* Unmaps @d's held mappings, oldest first; returns the time taken, in milliseconds. */
static double release(struct dev *d)
{
	double start = now_us();
	int i;

	for (i = 0; i < d->nr_held; i++)
		unmap_page(d, d->held[(d->oldest + i) % d->nr_held]);
	d->nr_held = 0;
	return (now_us() - start) / 1e3;
}

static void spread(const char *what, double *s, int rounds)
{
	qsort(s, rounds, sizeof(double), compare);
	printf("%s median %10.2f us (p10 %10.2f, p90 %10.2f)", what, percentile(s, rounds, 50),
	       percentile(s, rounds, 10), percentile(s, rounds, 90));
}

static double mmap_samples[2][MAX_ROUNDS], oldest_samples[2][MAX_ROUNDS];
static double enter_samples[MAX_ROUNDS], leave_samples[MAX_ROUNDS];

/* A line comparing the two devices' samples @s of @what. */
/*
 * One sample of @sample on each device, in round @round's order (the rvfio-pci
 * device first in even rounds), kept in @out unless the round is the warm-up
 * (-1).
 */
static void sample_both(struct dev *devs, int round, double (*sample)(struct dev *d),
			double (*out)[MAX_ROUNDS])
{
	int j, k;
	double s;

	for (j = 0; j < 2; j++) {
		k = j ^ (round & 1);
		s = sample(&devs[k]);
		if (round >= 0)
			out[k][round] = s;
	}
}

static void compared(int live, const char *what, double (*s)[MAX_ROUNDS], int rounds)
{
	printf("BENCH scaling N=%d %s ", live, what);
	spread("rvfio-pci", s[0], rounds);
	printf(", ");
	spread("vfio-pci", s[1], rounds);
	/* spread() sorted both. */
	printf(", ratio %7.4f\n", percentile(s[0], rounds, 50) / percentile(s[1], rounds, 50));
}

/* Every figure with @live mappings live on each device. */
static void scale(struct dev *devs, int live, int rounds)
{
	double hold_ms[2], release_ms[2], enter, leave;
	int i, k;

	for (k = 0; k < 2; k++)
		hold_ms[k] = hold(&devs[k], live - 1);
	/* Round -1 is the warm-up, not counted. */
	for (i = -1; i < rounds; i++) {
		sample_both(devs, i, sample_mmap, mmap_samples);
		sample_both(devs, i, sample_munmap_oldest, oldest_samples);
		sample_saving(&devs[0], &enter, &leave);
		if (i >= 0) {
			enter_samples[i] = enter;
			leave_samples[i] = leave;
		}
	}
	for (k = 0; k < 2; k++)
		release_ms[k] = release(&devs[k]);

	compared(live, "mmap+touch+munmap", mmap_samples, rounds);
	compared(live, "munmap oldest", oldest_samples, rounds);
	printf("BENCH scaling N=%d RUNNING->PRE_COPY ", live);
	spread("rvfio-pci", enter_samples, rounds);
	printf("\nBENCH scaling N=%d PRE_COPY->RUNNING ", live);
	spread("rvfio-pci", leave_samples, rounds);
	printf("\nBENCH scaling N=%d hold %d mappings: rvfio-pci mmap all %.2f ms, munmap all %.2f ms; vfio-pci mmap all %.2f ms, munmap all %.2f ms (one sample)\n",
	       live, live - 1, hold_ms[0], release_ms[0], hold_ms[1], release_ms[1]);
	fflush(stdout);
}

int main(int argc, char *argv[])
{
	int rounds = argc > 3 ? atoi(argv[3]) : DEFAULT_ROUNDS;
	static __u64 buf[REGION_INFO_MAX / 8];
	struct dev *devs;
	unsigned int n;

	if (argc < 3 || argc > 4 || rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: %s RVFIO_BDF VFIO_PCI_BDF [ROUNDS 1-%d]\n", argv[0],
			MAX_ROUNDS);
		return 2;
	}
	page_size = sysconf(_SC_PAGESIZE);
	devs = calloc(2, sizeof(*devs));
	if (!devs)
		bench_die(argv[1], "calloc");
	open_device(&devs[0], argv[1], "rvfio-pci", 1, buf);
	pick_page(&devs[0], buf);
	open_device(&devs[1], argv[2], "vfio-pci", 0, buf);
	devs[1].page = devs[0].page;
	devs[1].touch = devs[0].touch;

	printf("BENCH scaling %d rounds, rvfio-pci %s, vfio-pci %s; N = live mappings of BAR 0 on each device during each timed operation, the timed one included (N-1 held + 1); every mapping one page at BAR 0 offset 0x%llx, outside the trapped pages; mmap figures per call (batch of %d)\n",
	       rounds, argv[1], argv[2], (unsigned long long)devs[0].page, MMAP_BATCH);
	fflush(stdout);
	for (n = 0; n < ARRAY_SIZE(live_counts); n++)
		scale(devs, live_counts[n], rounds);
	close(devs[0].fd);
	close(devs[1].fd);
	return 0;
}
