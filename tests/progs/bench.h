/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the guest benchmarks share (vfio_paths_bench, vfio_mmap_scaling,
 * vfio_pci_migration_bench): the clock, the order statistics of samples, and
 * finding a device's IOMMU group and cdev in sysfs. Each fails through
 * bench_die(), which names the program, the device and what failed.
 */
#ifndef RVFIO_TESTS_BENCH_H
#define RVFIO_TESTS_BENCH_H

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include <fcntl.h>
#include <linux/iommufd.h>

static inline void bench_die(const char *bdf, const char *what)
{
	fprintf(stderr, "%s: %s: %s: %s\n", program_invocation_short_name, bdf, what,
		strerror(errno));
	exit(1);
}

static inline double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* qsort() order of doubles. */
static inline int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The @p-th percentile of @count sorted samples, interpolated between ranks. */
static inline double percentile(const double *sorted, int count, int p)
{
	double rank = (count - 1) * p / 100.0;
	int low = (int)rank;

	if (low + 1 >= count)
		return sorted[count - 1];
	return sorted[low] + (rank - low) * (sorted[low + 1] - sorted[low]);
}

/* The basename of what sysfs link @link of @bdf points to, in @out. */
static inline void sysfs_link(const char *bdf, const char *link, char *out, size_t size)
{
	char path[256], target[256];
	ssize_t len;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, link);
	len = readlink(path, target, sizeof(target) - 1);
	if (len < 0)
		bench_die(bdf, path);
	target[len] = '\0';
	snprintf(out, size, "%s", basename(target));
}

/* The cdev of @bdf, /dev/vfio/devices/vfioN (its sysfs vfio-dev/vfioN), in @out. */
static inline void find_cdev(const char *bdf, char *out, size_t size)
{
	char path[256], name[32] = "";
	int n;

	for (n = 0; n < 1024 && !name[0]; n++) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vfio-dev/vfio%d", bdf, n);
		if (!access(path, F_OK))
			snprintf(name, sizeof(name), "vfio%d", n);
	}
	if (!name[0]) {
		errno = ENOENT;
		bench_die(bdf, "no vfio-dev/vfioN in sysfs");
	}
	snprintf(out, size, "/dev/vfio/devices/%s", name);
}

/* Exits unless @bdf is bound to @driver. */
static inline void bench_bound_to(const char *bdf, const char *driver)
{
	char bound[64];

	sysfs_link(bdf, "driver", bound, sizeof(bound));
	if (strcmp(bound, driver)) {
		fprintf(stderr, "%s: %s is bound to %s, not %s\n", program_invocation_short_name,
			bdf, bound, driver);
		exit(1);
	}
}

/* A new iommufd with an IOAS for @bdf's cdev: the fd in @iommufd, the IOAS in @ioas. */
static inline void bench_iommufd(const char *bdf, int *iommufd, __u32 *ioas)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	*iommufd = open("/dev/iommu", O_RDWR);
	if (*iommufd < 0)
		bench_die(bdf, "/dev/iommu");
	if (ioctl(*iommufd, IOMMU_IOAS_ALLOC, &alloc))
		bench_die(bdf, "IOMMU_IOAS_ALLOC");
	*ioas = alloc.out_ioas_id;
}

#endif
