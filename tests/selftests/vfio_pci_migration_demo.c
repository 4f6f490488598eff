// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_pci_migration_demo: what make run shows of migration on two igbs bound
 * to rvfio-pci, written to be read: each step prints what it did, and any
 * failure ends the program with a message and a non-zero status.
 *
 *   vfio_pci_migration_demo busy IGB
 *	The mmap rule: with BAR 0 mapped whole, doorbell pages included, the
 *	device refuses to start saving (EBUSY) and stays RUNNING; once the
 *	doorbell pages are unmapped (the BAR's saving layout) it saves.
 *
 *   vfio_pci_migration_demo migrate SOURCE TARGET
 *	A live migration, as a VMM does it: the source copies memory through
 *	its loopback (DMA) and raises MSI-X; its DMA log is started, it saves
 *	through PRE_COPY (copying meanwhile) and STOP_COPY, the target resumes
 *	the stream and goes on with the same driver state, nothing initialised
 *	again; every copy is checked byte for byte.
 *
 * Prints FIGURE lines (stream size, times, pages logged) for the summary.
 * Built on upstream's libvfio and its igb driver, as the selftests are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/sizes.h>
#include <linux/vfio.h>

#include <libvfio.h>

#include "dma_log.h"
#include "igb_migration.h"
#include "migration_uapi.h"
#include "page_trap.h"
#include "saving_layout.h"

/* One copy: one descriptor, the most the igb driver copies at once. */
#define COPY_SIZE SZ_1K

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* --- busy ---------------------------------------------------------------- */

static int busy(const char *bdf)
{
	struct iommu *iommu = iommu_init(MODE_IOMMUFD);
	struct vfio_pci_device *device = vfio_pci_device_init(bdf, iommu);
	__u64 unmapped;
	int fd, ret;

	printf("%s: BAR 0 mapped whole (%llu KiB), as libvfio and QEMU map it\n", bdf,
	       (unsigned long long)device->bars[0].info.size / 1024);
	ret = set_state(device, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	printf("RUNNING -> PRE_COPY: %s; state now %s\n", ret ? strerror(ret) : "accepted",
	       get_state(device) == VFIO_DEVICE_STATE_RUNNING ? "RUNNING" : "not RUNNING");
	VFIO_ASSERT_EQ(ret, EBUSY, "saving started with the doorbell pages mapped\n");
	VFIO_ASSERT_EQ(get_state(device), VFIO_DEVICE_STATE_RUNNING);

	unmapped = adopt_saving_layout(device, 0);
	printf("munmap of the %llu KiB outside BAR 0's saving layout (its doorbell pages)\n",
	       (unsigned long long)unmapped / 1024);
	ret = set_state(device, VFIO_DEVICE_STATE_PRE_COPY, &fd);
	printf("RUNNING -> PRE_COPY: %s\n", ret ? strerror(ret) : "accepted");
	VFIO_ASSERT_EQ(ret, 0);
	close(fd);
	reach(device, VFIO_DEVICE_STATE_RUNNING);
	printf("PRE_COPY -> RUNNING: the device runs on\n");
	printf("FIGURE mmap rule: PRE_COPY refused (EBUSY) with BAR 0 mapped whole, accepted after munmap of its %llu KiB of doorbell pages\n",
	       (unsigned long long)unmapped / 1024);

	vfio_pci_device_cleanup(device);
	iommu_cleanup(iommu);
	return 0;
}

/* --- migrate ------------------------------------------------------------- */

struct demo {
	struct iommu *iommu;
	struct iova_allocator *allocator;
	struct vfio_pci_device *source, *target;
	/* The device the driver runs on: the source, then the target. */
	struct vfio_pci_device *running;
	/* Copies go from the first half of this region to the second. */
	struct dma_region copy;
	int copies;
};

/* One copy through the running igb, checked byte for byte, and one MSI. */
static void workload(struct demo *demo, const char *where)
{
	unsigned char *src = demo->copy.vaddr, *dst = src + SZ_32K;
	unsigned char seed = ++demo->copies;

	for (int i = 0; i < COPY_SIZE; i++)
		src[i] = seed + i * 7;
	memset(dst, 0, COPY_SIZE);
	VFIO_ASSERT_EQ(vfio_pci_driver_memcpy(demo->running, demo->copy.iova,
					      demo->copy.iova + SZ_32K, COPY_SIZE), 0);
	VFIO_ASSERT_EQ(memcmp(src, dst, COPY_SIZE), 0, "copy %d differs\n", seed);
	msis(demo->running);
	vfio_pci_driver_send_msi(demo->running);
	VFIO_ASSERT_EQ(wait_msi(demo->running), 1, "no MSI-X after copy %d\n", seed);
	printf("%s: copy %d, %d bytes by DMA, checked; MSI-X received\n", where, seed,
	       COPY_SIZE);
}

/* Pages set in the DMA log's report of @region. */
static int logged_pages(struct demo *demo, struct dma_region *region)
{
	__u64 pages = region->size / SZ_4K, *bitmap = calloc(pages / 64 + 1, 8);
	int count = 0;

	VFIO_ASSERT_NOT_NULL(bitmap);
	VFIO_ASSERT_EQ(log_report(demo->source, region->iova, region->size, bitmap), 0);
	for (__u64 page = 0; page < pages; page++)
		count += page_set(bitmap, page);
	free(bitmap);
	return count;
}

static int logged(struct demo *demo)
{
	return logged_pages(demo, &demo->copy) + logged_pages(demo, &demo->source->driver.region);
}

static int migrate(const char *source, const char *target)
{
	struct demo demo = { 0 };
	struct vfio_device_feature_dma_logging_range ranges[2];
	struct stream stream = { 0 };
	double start, stopped, loading, loaded, resumed;
	size_t precopy;
	int save, load, none, during, at_stop;

	/* A container: the driver's DMA log reads descriptors through it. */
	demo.iommu = iommu_init(MODE_VFIO_TYPE1V2_IOMMU);
	demo.source = vfio_pci_device_init(source, demo.iommu);
	demo.target = vfio_pci_device_init(target, demo.iommu);
	demo.allocator = iova_allocator_init(demo.iommu);
	region_setup(demo.iommu, demo.allocator, &demo.copy, SZ_64K);
	region_setup(demo.iommu, demo.allocator, &demo.source->driver.region, SZ_2M);
	vfio_pci_driver_init(demo.source);
	wait_link_up(demo.source);
	fcntl_set_nonblock(demo.source->msi_eventfds[0]);
	demo.running = demo.source;
	workload(&demo, "source");
	workload(&demo, "source");

	/* What a VMM does first: the saving layout, the doorbells trapped, the log started. */
	adopt_saving_layout(demo.source, 0);
	trap_unmapped_pages(demo.source, 0);
	ranges[0] = (struct vfio_device_feature_dma_logging_range){
		.iova = demo.copy.iova, .length = demo.copy.size };
	ranges[1] = (struct vfio_device_feature_dma_logging_range){
		.iova = demo.source->driver.region.iova, .length = demo.source->driver.region.size };
	VFIO_ASSERT_EQ(log_start(demo.source, SZ_4K, ranges, 2), 0);
	printf("source: doorbell pages trapped, DMA log started\n");

	start = now_ms();
	VFIO_ASSERT_EQ(set_state(demo.source, VFIO_DEVICE_STATE_PRE_COPY, &save), 0);
	precopy = read_stream(save, &stream);
	printf("source: RUNNING -> PRE_COPY, pre-copy record read (%zu bytes); the device runs on\n",
	       precopy);
	workload(&demo, "source in PRE_COPY");
	during = logged(&demo);
	printf("source: the DMA log reports %d pages the device may have written since it started\n",
	       during);

	stopped = now_ms();
	VFIO_ASSERT_EQ(set_state(demo.source, VFIO_DEVICE_STATE_STOP_COPY, &none), 0);
	read_stream(save, &stream);
	at_stop = logged(&demo);
	VFIO_ASSERT_EQ(log_stop(demo.source), 0);
	close(save);
	printf("source: PRE_COPY -> STOP_COPY, final record read; %d more pages logged\n", at_stop);

	loading = now_ms();
	VFIO_ASSERT_EQ(set_state(demo.target, VFIO_DEVICE_STATE_RESUMING, &load), 0);
	VFIO_ASSERT_EQ(write_stream(load, stream.bytes, stream.size), 0);
	vfio_pci_msix_enable(demo.target, demo.source->driver.msi, 1);
	fcntl_set_nonblock(demo.target->msi_eventfds[0]);
	reach(demo.target, VFIO_DEVICE_STATE_STOP);
	loaded = now_ms();
	close(load);
	untrap_pages();
	hand_over(demo.source, demo.target);
	demo.running = demo.target;
	reach(demo.target, VFIO_DEVICE_STATE_RUNNING);
	resumed = now_ms();
	/*
	 * The load waits for the link: QEMU's igb raises it 500 ms after RESUMING
	 * starts its autonegotiation (Documentation/migration.rst); a transfer
	 * longer than that would hide the wait.
	 */
	printf("target: RESUMING, %zu bytes loaded in %.1f ms, RUNNING; its transmit head at descriptor %u\n",
	       stream.size, loaded - loading, bar0_read(demo.target, E1000_TDH(0)));
	/* One descriptor a copy: the target stands where the source stopped. */
	VFIO_ASSERT_EQ(bar0_read(demo.target, E1000_TDH(0)), demo.copies);

	workload(&demo, "target");
	workload(&demo, "target");
	VFIO_ASSERT_EQ(msis(demo.source), 0, "the source raised an MSI after the migration\n");
	printf("FIGURE igb migration: stream %zu bytes (pre-copy %zu, final %zu), %.1f ms in all, device stopped %.1f ms (%.1f of them loading: the link), %d pages logged (%d during pre-copy)\n",
	       stream.size, precopy, stream.size - precopy, resumed - start, resumed - stopped,
	       loaded - loading, during + at_stop, during);

	vfio_pci_driver_remove(demo.target);
	region_teardown(demo.iommu, &demo.copy);
	region_teardown(demo.iommu, &demo.source->driver.region);
	vfio_pci_device_cleanup(demo.target);
	vfio_pci_device_cleanup(demo.source);
	iova_allocator_cleanup(demo.allocator);
	iommu_cleanup(demo.iommu);
	return 0;
}

int main(int argc, char *argv[])
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "busy"))
		return busy(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "migrate"))
		return migrate(argv[2], argv[3]);
	fprintf(stderr, "usage: %s busy IGB | migrate SOURCE TARGET\n", argv[0]);
	return 2;
}
