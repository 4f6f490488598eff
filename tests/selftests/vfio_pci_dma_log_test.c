// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_pci_dma_log_test: the DMA logging features of an igb bound to
 * rvfio-pci (VFIO_DEVICE_FEATURE_DMA_LOGGING_START, _STOP, _REPORT), on
 * upstream's libvfio and its igb driver, in the style of the upstream VFIO
 * selftests (Documentation/migration.rst, "DMA logging").
 *
 *   vfio_pci_dma_log_test [harness options] IGB [NO_PERSONALITY]
 *
 * IGB is an igb bound to rvfio-pci; NO_PERSONALITY (optional) a device bound
 * to rvfio-pci that has no personality, which must not offer the features.
 *
 * The driver copies through the igb's loopback: it posts transmit and
 * receive descriptors and writes the queues' tails, so the device writes the
 * destination buffer and the descriptors back. While logging, the doorbell
 * pages are kept out of the mapping, so the test traps them as a VMM does
 * (page_trap.h). Every page whose content the device changed must be in the
 * report: that is checked by content, never by trusting the driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"
#include "dma_log.h"
#include "migration_uapi.h"
#include "page_trap.h"
#include "saving_layout.h"

static const char *igb_bdf, *no_personality_bdf;

#define PAGE SZ_4K
/* The memory the tests look at: the copy region and the driver's region. */
#define COPY_REGION SZ_1M
#define DRIVER_REGION SZ_2M

/* The part of the copy region the sources of the copies use. */
#define SOURCES SZ_16K

/* PROBE for feature @index with the operation @op it supports (GET or SET). */
static int probe(struct vfio_pci_device *device, __u32 index, __u32 op)
{
	return device_feature(device->fd, VFIO_DEVICE_FEATURE_PROBE | op | index, NULL, 0);
}

FIXTURE(dma_log) {
	struct iommu *iommu;
	struct iova_allocator *allocator;
	struct vfio_pci_device *device;
	struct dma_region copy;
	/* The ranges logged: the copy region and the driver's. */
	struct vfio_device_feature_dma_logging_range ranges[2];
	__u64 *bitmap;
	unsigned char *before;
};

FIXTURE_VARIANT(dma_log) {
	const char *iommu_mode;
};

/* A container: the driver reads descriptors through vfio_dma_rw(). */
FIXTURE_VARIANT_ADD(dma_log, vfio_type1v2_iommu) {
	.iommu_mode = MODE_VFIO_TYPE1V2_IOMMU,
};

FIXTURE_SETUP(dma_log)
{
	struct dma_region *driver_region;

	self->iommu = iommu_init(variant->iommu_mode);
	/* A container knows its IOVA ranges once a group is in it. */
	self->device = vfio_pci_device_init(igb_bdf, self->iommu);
	self->allocator = iova_allocator_init(self->iommu);
	driver_region = &self->device->driver.region;
	region_setup(self->iommu, self->allocator, &self->copy, COPY_REGION);
	region_setup(self->iommu, self->allocator, driver_region, DRIVER_REGION);
	vfio_pci_driver_init(self->device);
	self->ranges[0] = (struct vfio_device_feature_dma_logging_range){
		.iova = self->copy.iova, .length = COPY_REGION };
	self->ranges[1] = (struct vfio_device_feature_dma_logging_range){
		.iova = driver_region->iova, .length = DRIVER_REGION };
	self->bitmap = calloc(DRIVER_REGION / PAGE / 64, 8);
	self->before = malloc(DRIVER_REGION);
	VFIO_ASSERT_NOT_NULL(self->bitmap);
	VFIO_ASSERT_NOT_NULL(self->before);
}

FIXTURE_TEARDOWN(dma_log)
{
	struct dma_region *driver_region = &self->device->driver.region;

	log_stop(self->device);
	/* With the doorbells still trapped, if they were. */
	vfio_pci_driver_remove(self->device);
	untrap_pages();
	region_teardown(self->iommu, driver_region);
	region_teardown(self->iommu, &self->copy);
	vfio_pci_device_cleanup(self->device);
	iova_allocator_cleanup(self->allocator);
	iommu_cleanup(self->iommu);
	free(self->bitmap);
	free(self->before);
}

/* Starts logging both ranges, with the doorbells trapped as a VMM traps them. */
static int start_trapped(struct _test_data_dma_log *self)
{
	adopt_saving_layout(self->device, 0);
	trap_unmapped_pages(self->device, 0);
	return log_start(self->device, PAGE, self->ranges, 2);
}

/*
 * Copies @size bytes from the start of the copy region to @dst_offset in it,
 * through the device; checks the copy.
 */
static void device_copy(struct __test_metadata *_metadata, struct _test_data_dma_log *self,
			__u64 dst_offset, __u64 size, unsigned char seed)
{
	unsigned char *src = self->copy.vaddr, *dst = src + dst_offset;

	for (__u64 i = 0; i < size; i++)
		src[i] = seed + i * 13;
	ASSERT_EQ(0, vfio_pci_driver_memcpy(self->device, self->copy.iova,
					    self->copy.iova + dst_offset, size));
	ASSERT_EQ(0, memcmp(src, dst, size));
}

/*
 * Checks that every page of @region from @skip bytes on that changed from
 * @before (what it held when the copies began) is set in the report of the
 * region; returns how many changed and, in @reported, how many of those pages
 * the report set.
 */
static __u64 changed_pages_reported(struct __test_metadata *_metadata,
				    struct _test_data_dma_log *self, struct dma_region *region,
				    const unsigned char *before, __u64 skip, __u64 *reported)
{
	__u64 changed = 0, pages = region->size / PAGE;

	ASSERT_EQ(0, log_report(self->device, region->iova, region->size, self->bitmap));
	*reported = 0;
	for (__u64 page = skip / PAGE; page < pages; page++) {
		bool set = page_set(self->bitmap, page);

		*reported += set;
		if (memcmp((unsigned char *)region->vaddr + page * PAGE, before + page * PAGE,
			   PAGE)) {
			changed++;
			EXPECT_TRUE(set) {
				TH_LOG("page %llu of the region at IOVA %#llx changed and was not reported",
				       (unsigned long long)page, (unsigned long long)region->iova);
			}
		}
	}
	return changed;
}

/* Every feature answers PROBE on an igb. */
TEST_F(dma_log, features_probe)
{
	ASSERT_EQ(0, probe(self->device, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
			   VFIO_DEVICE_FEATURE_SET));
	ASSERT_EQ(0, probe(self->device, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
			   VFIO_DEVICE_FEATURE_SET));
	ASSERT_EQ(0, probe(self->device, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
			   VFIO_DEVICE_FEATURE_GET));
}

/* A mapping of a doorbell page refuses the start; after munmap it is accepted. */
TEST_F(dma_log, start_refused_while_doorbells_mapped)
{
	ASSERT_EQ(EBUSY, log_start(self->device, PAGE, self->ranges, 2));
	ASSERT_EQ(EINVAL, log_report(self->device, self->copy.iova, COPY_REGION, self->bitmap));
	ASSERT_EQ(0, start_trapped(self));
}

/* While logging, no mapping of a doorbell page can be made. */
TEST_F(dma_log, doorbell_mapping_refused_while_logging)
{
	struct vfio_pci_bar *bar = &self->device->bars[0];
	void *at;

	ASSERT_EQ(0, start_trapped(self));
	at = mmap(NULL, bar->info.size, PROT_READ | PROT_WRITE, MAP_SHARED, self->device->fd,
		  bar->info.offset);
	ASSERT_EQ(MAP_FAILED, at);
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(0, log_stop(self->device));
	at = mmap(NULL, bar->info.size, PROT_READ | PROT_WRITE, MAP_SHARED, self->device->fd,
		  bar->info.offset);
	ASSERT_NE(MAP_FAILED, at);
	ASSERT_EQ(0, munmap(at, bar->info.size));
}

/* Bad starts: twice, a page size that is not a power of two of 4 KiB or more. */
TEST_F(dma_log, bad_starts_refused)
{
	adopt_saving_layout(self->device, 0);
	ASSERT_EQ(EINVAL, log_start(self->device, 3000, self->ranges, 2));
	ASSERT_EQ(EINVAL, log_start(self->device, 6 * SZ_1K, self->ranges, 2));
	ASSERT_EQ(EINVAL, log_start(self->device, SZ_2K, self->ranges, 2));
	ASSERT_EQ(0, log_start(self->device, PAGE, self->ranges, 2));
	ASSERT_EQ(EINVAL, log_start(self->device, PAGE, self->ranges, 2));
	ASSERT_EQ(0, log_stop(self->device));
	ASSERT_EQ(0, log_stop(self->device));
}

/*
 * A workload while logging: every page the device wrote, by content, is in
 * the report; the report's over-reporting is printed.
 */
TEST_F(dma_log, written_pages_are_reported)
{
	struct dma_region *driver_region = &self->device->driver.region;
	unsigned char *copy_before = malloc(COPY_REGION);
	__u64 copy_changed, copy_reported, ring_changed, ring_reported;

	ASSERT_NE(NULL, copy_before);
	ASSERT_EQ(0, start_trapped(self));
	/* A first report empties what the start logged. */
	ASSERT_EQ(0, log_report(self->device, self->copy.iova, COPY_REGION, self->bitmap));
	ASSERT_EQ(0, log_report(self->device, driver_region->iova, DRIVER_REGION, self->bitmap));
	memcpy(copy_before, self->copy.vaddr, COPY_REGION);
	memcpy(self->before, driver_region->vaddr, DRIVER_REGION);
	/* Copies to 16 places spread over the region, each two or three pages long. */
	for (int i = 0; i < 16; i++)
		device_copy(_metadata, self, SOURCES + SZ_32K * i + SZ_4K * (i % 3), SZ_8K + i * 100,
			    i);
	ASSERT_LT(0, page_trap.writes);
	/* The sources, which the test wrote and the device only read, are left out. */
	copy_changed = changed_pages_reported(_metadata, self, &self->copy, copy_before,
					      SOURCES, &copy_reported);
	ring_changed = changed_pages_reported(_metadata, self, driver_region, self->before, 0,
					      &ring_reported);
	ASSERT_LE(16 * 2, copy_changed);
	printf("# dma log: copy region %llu pages changed, %llu reported; driver region %llu changed, %llu reported; %llu trapped writes\n",
	       (unsigned long long)copy_changed, (unsigned long long)copy_reported,
	       (unsigned long long)ring_changed, (unsigned long long)ring_reported,
	       (unsigned long long)page_trap.writes);
	free(copy_before);
}

/* Microseconds of @rounds copies of one 1 KiB chunk. */
static double copies_us(struct __test_metadata *_metadata, struct _test_data_dma_log *self,
			int rounds)
{
	struct timespec start, end;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (int i = 0; i < rounds; i++)
		device_copy(_metadata, self, SOURCES + SZ_4K * (i % 64), SZ_1K, i);
	clock_gettime(CLOCK_MONOTONIC, &end);
	return (end.tv_sec - start.tv_sec) * 1e6 + (end.tv_nsec - start.tv_nsec) / 1e3;
}

/*
 * What logging costs the workload: the same copies with the doorbells
 * trapped, without and with logging, in turns. Figures only, never a verdict.
 */
TEST_F(dma_log, logging_cost)
{
	const int rounds = 64;
	double trapped = 0, logging = 0;

	adopt_saving_layout(self->device, 0);
	trap_unmapped_pages(self->device, 0);
	for (int turn = 0; turn < 2; turn++) {
		trapped += copies_us(_metadata, self, rounds);
		ASSERT_EQ(0, log_start(self->device, PAGE, self->ranges, 2));
		logging += copies_us(_metadata, self, rounds);
		ASSERT_EQ(0, log_stop(self->device));
	}
	printf("# dma log cost: %.1f us a 1 KiB copy with the doorbells trapped, %.1f us logging too (%.2fx)\n",
	       trapped / (2 * rounds), logging / (2 * rounds), logging / trapped);
}

/* A report clears what it reported: the copied pages are not reported again. */
TEST_F(dma_log, report_clears)
{
	__u64 first = 0, second = 0;

	ASSERT_EQ(0, start_trapped(self));
	device_copy(_metadata, self, SZ_256K, SZ_16K, 7);
	ASSERT_EQ(0, log_report(self->device, self->copy.iova, COPY_REGION, self->bitmap));
	for (__u64 page = SZ_256K / PAGE; page < (SZ_256K + SZ_16K) / PAGE; page++)
		first += page_set(self->bitmap, page);
	ASSERT_EQ(SZ_16K / PAGE, first);
	ASSERT_EQ(0, log_report(self->device, self->copy.iova, COPY_REGION, self->bitmap));
	for (__u64 page = SZ_256K / PAGE; page < (SZ_256K + SZ_16K) / PAGE; page++)
		second += page_set(self->bitmap, page);
	ASSERT_EQ(0, second);
}

/* STOP ends logging: a report is refused, and the doorbells may be mapped. */
TEST_F(dma_log, stop_ends_logging)
{
	ASSERT_EQ(0, start_trapped(self));
	ASSERT_EQ(0, log_stop(self->device));
	ASSERT_EQ(EINVAL, log_report(self->device, self->copy.iova, COPY_REGION, self->bitmap));
	ASSERT_EQ(0, start_trapped(self));
}

/* A reset ends logging. */
TEST_F(dma_log, reset_ends_logging)
{
	ASSERT_EQ(0, start_trapped(self));
	vfio_pci_device_reset(self->device);
	ASSERT_EQ(EINVAL, log_report(self->device, self->copy.iova, COPY_REGION, self->bitmap));
}

/* Closing the device ends logging: the next user finds none. */
TEST_F(dma_log, close_ends_logging)
{
	struct dma_region driver_region = self->device->driver.region;
	struct vfio_pci_device *again;

	ASSERT_EQ(0, start_trapped(self));
	vfio_pci_driver_remove(self->device);
	untrap_pages();
	vfio_pci_device_cleanup(self->device);
	again = vfio_pci_device_init(igb_bdf, self->iommu);
	ASSERT_EQ(EINVAL, log_report(again, self->copy.iova, COPY_REGION, self->bitmap));
	/* libvfio maps all of BAR 0 again. */
	ASSERT_EQ(EBUSY, log_start(again, PAGE, self->ranges, 2));
	self->device = again;
	self->device->driver.region = driver_region;
	vfio_pci_driver_init(self->device);
}

/* Opens @bdf in @iommu_mode and checks it offers no DMA logging. */
static void assert_no_logging_offered(struct __test_metadata *_metadata, const char *bdf,
				      const char *iommu_mode)
{
	struct iommu *iommu = iommu_init(iommu_mode);
	struct vfio_pci_device *device = vfio_pci_device_init(bdf, iommu);

	ASSERT_EQ(ENOTTY, probe(device, VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				VFIO_DEVICE_FEATURE_SET));
	ASSERT_EQ(ENOTTY, probe(device, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				VFIO_DEVICE_FEATURE_GET));
	vfio_pci_device_cleanup(device);
	iommu_cleanup(iommu);
}

/*
 * Through an iommufd the driver cannot read descriptors: the device offers no
 * DMA logging there, as under vfio-pci, so a VMM does not count on it.
 */
TEST(dma_log_not_offered_through_iommufd)
{
	assert_no_logging_offered(_metadata, igb_bdf, MODE_IOMMUFD);
}

/* A device without a personality offers no DMA logging, as under vfio-pci. */
TEST(no_personality_no_logging)
{
	if (!no_personality_bdf)
		SKIP(return, "no device without a personality given");
	assert_no_logging_offered(_metadata, no_personality_bdf, MODE_IOMMUFD);
}

/*
 * Only for a kernel built without IOMMUFD_DRIVER (the script selects it, with
 * -t, on a kernel without iommufd, as Debian's stock kernel): the core has no
 * iova_bitmap there, so the driver offers no logging even in a container.
 */
TEST(no_logging_on_this_kernel)
{
	assert_no_logging_offered(_metadata, igb_bdf, MODE_VFIO_TYPE1V2_IOMMU);
}

int main(int argc, char *argv[])
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s [harness options] IGB [NO_PERSONALITY]\n", argv[0]);
		return 2;
	}
	/* The devices come last; a BDF has colons, the harness's options do not. */
	if (argc >= 3 && strchr(argv[argc - 2], ':')) {
		igb_bdf = argv[argc - 2];
		no_personality_bdf = argv[argc - 1];
		argc -= 2;
	} else {
		igb_bdf = argv[argc - 1];
		argc -= 1;
	}
	return test_harness_run(argc, argv);
}
