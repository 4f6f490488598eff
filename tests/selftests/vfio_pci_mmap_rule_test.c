// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_pci_mmap_rule_test: the migration-time mmap rule of rvfio-pci on an
 * igb, in the style of the upstream VFIO selftests.
 *
 *   vfio_pci_mmap_rule_test [harness options] IGB_BDF
 *
 * BAR 0's saving layout (VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING) leaves out
 * the pages of the queue doorbells. Entering a saving state fails with EBUSY
 * while any mapping covers one of them, and changes nothing; while saving, a
 * new mapping of such a page fails with EBUSY and other pages still map.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/io.h>
#include <linux/sizes.h>
#include <linux/vfio.h>
#include <linux/rvfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"
#include "iommu_mode.h"
#include "migration_uapi.h"
#include "saving_layout.h"

static const char *device_bdf;

#define PAGE 4096
/* The igb's STATUS register, in BAR 0's first page: never zero on a present device. */
#define STATUS 0x8
/* The doorbell pages of the igb's BAR 0: legacy RX and TX tails, RX tails, TX tails. */
static const __u64 doorbell_pages[] = { 0x2000, 0x3000, 0xc000, 0xe000 };

/* Sets the migration state, closing any data fd it opened; returns 0 or the errno. */
static int enter(struct vfio_pci_device *device, __u32 state)
{
	int fd, ret = set_state(device, state, &fd);

	if (fd >= 0)
		close(fd);
	return ret;
}

static bool saving(__u32 state)
{
	return state == VFIO_DEVICE_STATE_PRE_COPY || state == VFIO_DEVICE_STATE_PRE_COPY_P2P ||
	       state == VFIO_DEVICE_STATE_STOP_COPY;
}

/* Maps @len bytes of BAR 0 from @offset; MAP_FAILED with errno on failure. */
static void *map_bar0(struct vfio_pci_device *device, __u64 offset, size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, device->fd,
		    device->bars[0].info.offset + offset);
}

/* Unmaps the doorbell pages of the BAR 0 mapping libvfio made, but @keep (or none: 0). */
static void unmap_doorbells(struct vfio_pci_device *device, __u64 keep)
{
	for (size_t i = 0; i < ARRAY_SIZE(doorbell_pages); i++) {
		if (doorbell_pages[i] != keep)
			VFIO_ASSERT_EQ(munmap(device->bars[0].vaddr + doorbell_pages[i], PAGE), 0);
	}
}

FIXTURE(mmap_rule) {
	struct iommu *iommu;
	struct vfio_pci_device *device;
};

FIXTURE_SETUP(mmap_rule)
{
	self->iommu = iommu_init(kernel_iommu_mode());
	self->device = vfio_pci_device_init(device_bdf, self->iommu);
}

FIXTURE_TEARDOWN(mmap_rule)
{
	vfio_pci_device_reset(self->device);
	vfio_pci_device_cleanup(self->device);
	iommu_cleanup(self->iommu);
}

/* BAR 0 leaves the four doorbell pages out; BAR 3 (MSI-X) leaves nothing out. */
TEST_F(mmap_rule, saving_layouts_are_published)
{
	struct vfio_region_sparse_mmap_area areas[SAVING_MAX_AREAS];

	ASSERT_EQ(4, saving_areas(self->device, 0, areas));
	ASSERT_EQ(0, areas[0].offset);
	ASSERT_EQ(0x2000, areas[0].size);
	ASSERT_EQ(0x4000, areas[1].offset);
	ASSERT_EQ(0x8000, areas[1].size);
	ASSERT_EQ(0xd000, areas[2].offset);
	ASSERT_EQ(0x1000, areas[2].size);
	ASSERT_EQ(0xf000, areas[3].offset);
	ASSERT_EQ(self->device->bars[0].info.size - 0xf000, areas[3].size);
	ASSERT_EQ(1, saving_areas(self->device, 3, areas));
	ASSERT_EQ(0, areas[0].offset);
	ASSERT_EQ(self->device->bars[3].info.size, areas[0].size);
}

/* The whole BAR mapped: no saving state can be entered (v2 and v1), and nothing changes. */
TEST_F(mmap_rule, mapped_doorbell_blocks_saving)
{
	__u32 save = VFIO_DEVICE_STATE_V1_SAVING;
	__u64 region_size;
	__u64 region = v1_region(self->device, &region_size);

	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, get_state(self->device));
	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, get_state(self->device));
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_STOP));
	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(VFIO_DEVICE_STATE_STOP, get_state(self->device));
	ASSERT_EQ(-1, pwrite(self->device->fd, &save, sizeof(save), region));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(VFIO_DEVICE_STATE_STOP, get_state(self->device));

	/* Without the doorbell pages it saves. */
	unmap_doorbells(self->device, 0);
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_STOP_COPY));
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_RUNNING));
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
}

/* While saving, a doorbell page does not map, other pages do; after saving it maps again. */
TEST_F(mmap_rule, mapping_while_saving)
{
	void *page;

	adopt_saving_layout(self->device, 0);
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	for (size_t i = 0; i < ARRAY_SIZE(doorbell_pages); i++) {
		ASSERT_EQ(MAP_FAILED, map_bar0(self->device, doorbell_pages[i], PAGE));
		ASSERT_EQ(EBUSY, errno);
	}
	/* A range around a doorbell page, and the whole BAR. */
	ASSERT_EQ(MAP_FAILED, map_bar0(self->device, 0xb000, 3 * PAGE));
	ASSERT_EQ(EBUSY, errno);
	ASSERT_EQ(MAP_FAILED, map_bar0(self->device, 0, self->device->bars[0].info.size));
	ASSERT_EQ(EBUSY, errno);
	page = map_bar0(self->device, 0, PAGE);
	ASSERT_NE(MAP_FAILED, page);
	ASSERT_NE(0, readl(page + STATUS));	/* the device answers through it */
	ASSERT_EQ(0, munmap(page, PAGE));

	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_RUNNING));
	page = map_bar0(self->device, 0xe000, PAGE);
	ASSERT_NE(MAP_FAILED, page);
	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(0, munmap(page, PAGE));
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
}

/* Unmapping part of a mapping: what is left still counts, piece by piece. */
TEST_F(mmap_rule, partial_munmap)
{
	/* Not a doorbell page: still blocked. */
	ASSERT_EQ(0, munmap(self->device->bars[0].vaddr, PAGE));
	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	/* Every doorbell page but the last: still blocked by that one. */
	unmap_doorbells(self->device, 0xe000);
	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(0, munmap(self->device->bars[0].vaddr + 0xe000, PAGE));
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(VFIO_DEVICE_STATE_PRE_COPY, get_state(self->device));
}

/* A forked child's copy of a doorbell mapping blocks saving until the child is gone. */
TEST_F(mmap_rule, forked_child_blocks_saving)
{
	int to_child[2], status;
	char byte = 0;
	pid_t child;

	adopt_saving_layout(self->device, 0);
	void *page = map_bar0(self->device, 0xc000, PAGE);

	ASSERT_NE(MAP_FAILED, page);
	ASSERT_EQ(0, pipe(to_child));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		/* Holds the inherited mapping until the parent writes. */
		read(to_child[0], &byte, 1);
		_exit(0);
	}
	ASSERT_EQ(0, munmap(page, PAGE));
	ASSERT_EQ(EBUSY, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	ASSERT_EQ(1, write(to_child[1], &byte, 1));
	ASSERT_EQ(child, waitpid(child, &status, 0));
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
}

/* A mapping cannot be moved: mremap fails and the mapping stays. */
TEST_F(mmap_rule, mremap_is_refused)
{
	void *page = map_bar0(self->device, 0, PAGE), *moved;
	void *elsewhere = mmap(NULL, PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, page);
	ASSERT_NE(MAP_FAILED, elsewhere);
	moved = mremap(page, PAGE, PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, elsewhere);
	ASSERT_EQ(MAP_FAILED, moved);
	ASSERT_NE(0, readl(page + STATUS));
	ASSERT_EQ(0, munmap(page, PAGE));
	ASSERT_EQ(0, munmap(elsewhere, PAGE));
}

/* The count of doorbell writes the driver saw through the region's write path. */
static unsigned long doorbells_counted(const char *bdf)
{
	char path[128];
	unsigned long count = ~0ul;
	FILE *file;

	snprintf(path, sizeof(path), "/sys/kernel/debug/rvfio-pci-%s/doorbell_writes", bdf);
	file = fopen(path, "r");
	VFIO_ASSERT_NOT_NULL(file, "%s: %s\n", path, strerror(errno));
	/* Not inside the assertion: its expression becomes part of a format string. */
	int scanned = fscanf(file, "%lu", &count);

	VFIO_ASSERT_EQ(scanned, 1);
	fclose(file);
	return count;
}

/* Writes @value to BAR 0 at @offset through the region's write path. */
static void bar0_pwrite(struct vfio_pci_device *device, __u64 offset, const void *value,
			size_t size)
{
	VFIO_ASSERT_EQ(pwrite(device->fd, value, size, device->bars[0].info.offset + offset),
		       (ssize_t)size);
}

/*
 * While saving, doorbell writes come through the region's write path, reach
 * the device and are counted: one per doorbell a write covers whole.
 */
TEST_F(mmap_rule, trapped_doorbell_writes_are_counted)
{
	__u32 tail = 0, value;
	__u64 both = 0;
	unsigned long before;

	adopt_saving_layout(self->device, 0);
	ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_PRE_COPY));
	before = doorbells_counted(self->device->bdf);
	for (int i = 0; i < 5; i++)
		bar0_pwrite(self->device, 0xe018, &tail, 4);	/* TDT(0) */
	bar0_pwrite(self->device, 0xc018, &tail, 4);		/* RDT(0) */
	bar0_pwrite(self->device, 0x3818, &tail, 4);		/* legacy TDT(0) */
	bar0_pwrite(self->device, 0xe014, &both, 8);		/* TDH(0) high half and TDT(0) */
	bar0_pwrite(self->device, 0xe010, &tail, 4);		/* TDH(0): not a doorbell */
	ASSERT_EQ(4, pread(self->device->fd, &value, 4,
			   self->device->bars[0].info.offset + 0xe018));
	ASSERT_EQ(before + 8, doorbells_counted(self->device->bdf));
	/* They reached the device: the tail reads back. */
	tail = 7;
	bar0_pwrite(self->device, 0xe018, &tail, 4);
	ASSERT_EQ(4, pread(self->device->fd, &value, 4,
			   self->device->bars[0].info.offset + 0xe018));
	ASSERT_EQ(7, value);
	ASSERT_EQ(before + 9, doorbells_counted(self->device->bdf));
}

#define RACE_ROUNDS 2000

struct race {
	struct vfio_pci_device *device;
	bool stop;
	unsigned long mapped, refused, violations;
};

/* Maps and unmaps a doorbell page; a mapping that lives while the device saves is a violation. */
static void *race_mapper(void *arg)
{
	struct race *race = arg;

	while (!READ_ONCE(race->stop)) {
		void *page = map_bar0(race->device, 0xe000, PAGE);

		if (page == MAP_FAILED) {
			VFIO_ASSERT_EQ(errno, EBUSY);
			__atomic_add_fetch(&race->refused, 1, __ATOMIC_RELAXED);
			continue;
		}
		if (saving(get_state(race->device)))
			__atomic_add_fetch(&race->violations, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&race->mapped, 1, __ATOMIC_RELAXED);
		VFIO_ASSERT_EQ(munmap(page, PAGE), 0);
	}
	return NULL;
}

/*
 * Threads mapping and unmapping a doorbell page race against state changes in
 * and out of PRE_COPY: the device never saves while such a mapping lives.
 */
TEST_F_TIMEOUT(mmap_rule, race_of_mmap_and_saving, 120)
{
	struct race race = { .device = self->device };
	unsigned long entered = 0, busy = 0;
	pthread_t mappers[2];

	adopt_saving_layout(self->device, 0);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&mappers[i], NULL, race_mapper, &race));
	for (int round = 0; round < RACE_ROUNDS; round++) {
		int ret = enter(self->device, VFIO_DEVICE_STATE_PRE_COPY);

		if (ret == 0) {
			entered++;
			ASSERT_EQ(0, enter(self->device, VFIO_DEVICE_STATE_RUNNING));
		} else {
			ASSERT_EQ(EBUSY, ret);
			busy++;
		}
	}
	WRITE_ONCE(race.stop, true);
	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_join(mappers[i], NULL));
	printf("# race: %d rounds: %lu saved, %lu refused; mappings %lu made, %lu refused\n",
	       RACE_ROUNDS, entered, busy, race.mapped, race.refused);
	ASSERT_EQ(0, race.violations);
	ASSERT_EQ(RACE_ROUNDS, entered + busy);
}

int main(int argc, char *argv[])
{
	device_bdf = vfio_selftests_get_bdf(&argc, argv);
	return test_harness_run(argc, argv);
}
