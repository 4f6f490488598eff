// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_pci_migration_test: live migration of an igb bound to rvfio-pci, on
 * upstream's libvfio and its igb driver, in the style of the upstream VFIO
 * selftests.
 *
 *   vfio_pci_migration_test [harness options] SOURCE TARGET [OTHER_LAYOUT]
 *
 * SOURCE and TARGET are igbs bound to rvfio-pci; OTHER_LAYOUT (optional) is
 * an igb whose config-space layout differs (QEMU's x-pcie-flr-init=off).
 *
 * Both devices share one IOAS (iommufd), so the target sees the guest memory
 * at the same IOVAs, as a VM's memory after its migration. The driver's state
 * (rings, tails, MSI vector) lives in that memory; after a migration the
 * target's BAR 0 is mapped where the source's was, as a VMM maps the target's
 * BAR at the guest-physical address the source's had. The driver then goes on
 * with the target: nothing is initialised again.
 */
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/io.h>
#include <linux/sizes.h>
#include <linux/vfio.h>
#include <linux/rvfio.h>

#include <libvfio.h>

#include "kselftest_harness.h"
#include "e1000_defines.h"
#include "e1000_regs.h"
#include "igb_migration.h"
#include "iommu_mode.h"
#include "migration_uapi.h"
#include "saving_layout.h"

static const char *source_bdf, *target_bdf, *other_layout_bdf;

/* Size of one copy: one descriptor, the most the igb driver copies at once. */
#define COPY_SIZE SZ_1K

/*
 * The helpers below take the fixture as the type FIXTURE(migration) defines,
 * struct _test_data_migration (FIXTURE_DATA(migration) in the harness).
 */
FIXTURE(migration) {
	struct iommu *iommu;
	struct iova_allocator *allocator;
	struct vfio_pci_device *source;
	struct vfio_pci_device *target;
	/* The device the driver runs on: the source, then the target. */
	struct vfio_pci_device *running;
	struct dma_region copy_region;
	void *src, *dst;
	iova_t src_iova, dst_iova;
	/* Copies the driver has posted so far: its transmit tail. */
	__u32 posted;
	struct stream stream;
};

FIXTURE_SETUP(migration)
{
	self->iommu = iommu_init(kernel_iommu_mode());
	self->source = vfio_pci_device_init(source_bdf, self->iommu);
	self->target = vfio_pci_device_init(target_bdf, self->iommu);
	/* A container knows its IOVA ranges once a group is in it. */
	self->allocator = iova_allocator_init(self->iommu);

	region_setup(self->iommu, self->allocator, &self->copy_region, SZ_64K);
	region_setup(self->iommu, self->allocator, &self->source->driver.region, SZ_2M);
	self->src = self->copy_region.vaddr;
	self->dst = self->src + SZ_32K;
	self->src_iova = to_iova(self->source, self->src);
	self->dst_iova = to_iova(self->source, self->dst);

	vfio_pci_driver_init(self->source);
	wait_link_up(self->source);
	fcntl_set_nonblock(self->source->msi_eventfds[0]);
	self->running = self->source;
	self->stream.size = 0;
	self->posted = 0;
}

FIXTURE_TEARDOWN(migration)
{
	struct dma_region *driver_region = &self->source->driver.region;

	if (self->running->driver.initialized)
		vfio_pci_driver_remove(self->running);
	region_teardown(self->iommu, &self->copy_region);
	region_teardown(self->iommu, driver_region);
	vfio_pci_device_cleanup(self->target);
	vfio_pci_device_cleanup(self->source);
	iova_allocator_cleanup(self->allocator);
	iommu_cleanup(self->iommu);
}

/* Fills the source buffer with @seed's pattern and the destination with zeroes. */
static void prepare_copy(struct _test_data_migration *self, unsigned char seed)
{
	for (size_t i = 0; i < COPY_SIZE; i++)
		((unsigned char *)self->src)[i] = seed + i * 7;
	memset(self->dst, 0, COPY_SIZE);
}

static bool dst_untouched(struct _test_data_migration *self)
{
	for (size_t i = 0; i < COPY_SIZE; i++) {
		if (((unsigned char *)self->dst)[i])
			return false;
	}
	return true;
}

/* Posts one copy of the source buffer on the running device. */
static void post_copy(struct _test_data_migration *self)
{
	vfio_pci_driver_memcpy_start(self->running, self->src_iova, self->dst_iova,
				     COPY_SIZE, 1);
	self->posted++;
}

/* Waits for the posted copy and checks it. */
static int finish_copy(struct _test_data_migration *self)
{
	int ret = vfio_pci_driver_memcpy_wait(self->running);

	return ret ? ret : memcmp(self->src, self->dst, COPY_SIZE) ? -EIO : 0;
}

/* One copy and one MSI on the running device. */
static void workload(struct __test_metadata *_metadata, struct _test_data_migration *self,
		     unsigned char seed)
{
	prepare_copy(self, seed);
	post_copy(self);
	ASSERT_EQ(0, finish_copy(self));
	msis(self->running);
	vfio_pci_driver_send_msi(self->running);
	ASSERT_EQ(1, wait_msi(self->running));
}

/* An MSI on the running device: it still runs. */
static void signal_msi(struct __test_metadata *_metadata, struct _test_data_migration *self,
		       unsigned char seed)
{
	msis(self->running);
	vfio_pci_driver_send_msi(self->running);
	ASSERT_EQ(1, wait_msi(self->running));
}

/*
 * Saves the source into self->stream: through PRE_COPY (its record read while
 * the device runs, with @during_precopy run then) or straight to STOP_COPY.
 * First the source's BAR 0 mapping adopts the saving layout, as a VMM's does.
 * Leaves the source in STOP_COPY.
 */
static void save(struct __test_metadata *_metadata, struct _test_data_migration *self,
		 bool precopy, void (*during_precopy)(struct __test_metadata *,
						     struct _test_data_migration *, unsigned char))
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	int fd, none;

	adopt_saving_layout(self->source, 0);
	if (precopy) {
		ASSERT_EQ(0, set_state(self->source, VFIO_DEVICE_STATE_PRE_COPY, &fd));
		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
		ASSERT_LT(0, info.initial_bytes);
		ASSERT_EQ(info.initial_bytes, read_stream(fd, &self->stream));
		ASSERT_EQ(0, ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, &info));
		ASSERT_EQ(0, info.initial_bytes);
		if (during_precopy)
			during_precopy(_metadata, self, 0x5a);
		ASSERT_EQ(0, set_state(self->source, VFIO_DEVICE_STATE_STOP_COPY, &none));
		ASSERT_EQ(-1, none);
	} else {
		ASSERT_EQ(0, set_state(self->source, VFIO_DEVICE_STATE_STOP_COPY, &fd));
		ASSERT_GE(fd, 0);
	}
	ASSERT_LT(0, read_stream(fd, &self->stream));
	ASSERT_EQ(0, close(fd));
}

/*
 * Loads self->stream into the target: RESUMING, the stream, MSI-X set up
 * while resuming (as a VMM does when it restores the config space), RUNNING.
 */
static void resume(struct __test_metadata *_metadata, struct _test_data_migration *self)
{
	int fd, none;

	ASSERT_EQ(0, set_state(self->target, VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, write_stream(fd, self->stream.bytes, self->stream.size));
	vfio_pci_msix_enable(self->target, self->source->driver.msi, 1);
	fcntl_set_nonblock(self->target->msi_eventfds[0]);
	ASSERT_EQ(0, set_state(self->target, VFIO_DEVICE_STATE_STOP, &none));
	ASSERT_EQ(-1, none);
	ASSERT_EQ(0, close(fd));
}

/* The driver moves to the target (igb_migration.h). */
static void to_target(struct _test_data_migration *self)
{
	hand_over(self->source, self->target);
	self->running = self->target;
}

TEST_F_TIMEOUT(migration, stop_copy_then_target_continues, 120)
{
	int fd;

	workload(_metadata, self, 1);
	workload(_metadata, self, 2);
	save(_metadata, self, false, NULL);
	resume(_metadata, self);
	to_target(self);

	/* The target stands where the source stopped: two copies into its ring. */
	ASSERT_EQ(self->posted, bar0_read(self->target, E1000_TDH(0)));
	ASSERT_EQ(0, set_state(self->target, VFIO_DEVICE_STATE_RUNNING, &fd));
	workload(_metadata, self, 3);
	workload(_metadata, self, 4);
	ASSERT_EQ(0, msis(self->source));
}

TEST_F_TIMEOUT(migration, pre_copy_then_target_continues, 120)
{
	int fd;

	workload(_metadata, self, 1);
	/* The device runs in PRE_COPY: it sends an MSI then. */
	save(_metadata, self, true, signal_msi);
	resume(_metadata, self);
	to_target(self);
	ASSERT_EQ(self->posted, bar0_read(self->target, E1000_TDH(0)));
	ASSERT_EQ(0, set_state(self->target, VFIO_DEVICE_STATE_RUNNING, &fd));
	workload(_metadata, self, 3);
}

/*
 * In RUNNING_P2P and STOP the device answers MMIO but starts no DMA and sends
 * no MSI; what was asked of it then (a cause raised through EICS, a transmit
 * tail written) happens once it runs.
 */
TEST_F_TIMEOUT(migration, stopped_device_starts_no_dma, 120)
{
	msis(self->source);
	reach(self->source, VFIO_DEVICE_STATE_RUNNING_P2P);
	ASSERT_TRUE(bar0_read(self->source, E1000_STATUS) & E1000_STATUS_LU);
	vfio_pci_driver_send_msi(self->source);
	usleep(200 * 1000);
	reach(self->source, VFIO_DEVICE_STATE_STOP);
	usleep(200 * 1000);
	ASSERT_EQ(0, msis(self->source));
	reach(self->source, VFIO_DEVICE_STATE_RUNNING);
	ASSERT_EQ(1, wait_msi(self->source));

	reach(self->source, VFIO_DEVICE_STATE_RUNNING_P2P);
	prepare_copy(self, 9);
	post_copy(self);
	usleep(200 * 1000);
	reach(self->source, VFIO_DEVICE_STATE_STOP);
	usleep(200 * 1000);
	ASSERT_TRUE(dst_untouched(self));
	ASSERT_EQ(0, msis(self->source));
	reach(self->source, VFIO_DEVICE_STATE_RUNNING);
	ASSERT_EQ(0, finish_copy(self));
	/*
	 * The igb driver masked its vector (EIMC) as it posted the copy, while
	 * the device was stopped; running again gives the device the masks the
	 * driver held (Documentation/migration.rst), so the copy's receive cause
	 * raised one MSI. Taken here, it cannot be counted with the next one.
	 */
	ASSERT_EQ(1, wait_msi(self->source));
	workload(_metadata, self, 10);
}

/* Work posted to the stopped source is done by the target once it runs, never by the source. */
TEST_F_TIMEOUT(migration, posted_work_moves_to_target, 120)
{
	int fd;

	workload(_metadata, self, 1);
	reach(self->source, VFIO_DEVICE_STATE_STOP);
	prepare_copy(self, 5);
	post_copy(self);
	save(_metadata, self, false, NULL);
	resume(_metadata, self);
	usleep(200 * 1000);
	ASSERT_TRUE(dst_untouched(self));
	to_target(self);
	ASSERT_EQ(0, set_state(self->target, VFIO_DEVICE_STATE_RUNNING, &fd));
	ASSERT_EQ(0, finish_copy(self));
	/* As in stopped_device_starts_no_dma: the mask held through the copy's posting. */
	ASSERT_EQ(1, wait_msi(self->running));
	workload(_metadata, self, 6);
}

/*
 * The v1 front-end: the migration region (VFIO_REGION_TYPE_MIGRATION_DEPRECATED)
 * with upstream's struct vfio_device_migration_info at its start.
 */
#define V1_FIELD(field) offsetof(struct vfio_device_migration_info, field)

/* pread/pwrite of a header field or data; returns 0 or the errno. */
static int v1_access(struct vfio_pci_device *device, bool write, __u64 at, void *data,
		     size_t size)
{
	__u64 region_size, region = v1_region(device, &region_size);
	ssize_t done;

	done = write ? pwrite(device->fd, data, size, region + at) :
		       pread(device->fd, data, size, region + at);
	if (done < 0)
		return errno;
	VFIO_ASSERT_EQ(done, size);
	return 0;
}

static __u32 v1_get_state(struct vfio_pci_device *device)
{
	__u32 state;

	VFIO_ASSERT_EQ(v1_access(device, false, V1_FIELD(device_state), &state,
				 sizeof(state)), 0);
	return state;
}

static int v1_set_state(struct vfio_pci_device *device, __u32 state)
{
	return v1_access(device, true, V1_FIELD(device_state), &state, sizeof(state));
}

static __u64 v1_get(struct vfio_pci_device *device, size_t field)
{
	__u64 value;

	VFIO_ASSERT_EQ(v1_access(device, false, field, &value, sizeof(value)), 0);
	return value;
}

/*
 * Appends the device's stream to @stream through the region, in the v1 order:
 * pending_bytes, data_offset, data_size, the data, until nothing is pending.
 */
static void v1_read_stream(struct vfio_pci_device *device, struct stream *stream)
{
	while (v1_get(device, V1_FIELD(pending_bytes))) {
		__u64 offset = v1_get(device, V1_FIELD(data_offset));
		__u64 size = v1_get(device, V1_FIELD(data_size));

		VFIO_ASSERT_LE(stream->size + size, STREAM_MAX);
		VFIO_ASSERT_EQ(v1_access(device, false, offset, stream->bytes + stream->size,
					 size), 0);
		stream->size += size;
	}
}

/* Writes @stream through the region: data, then data_size, a data section at a time. */
static int v1_write_stream(struct vfio_pci_device *device, const struct stream *stream)
{
	__u64 region_size, offset = v1_get(device, V1_FIELD(data_offset));
	size_t done = 0;
	int ret;

	v1_region(device, &region_size);
	while (done < stream->size) {
		__u64 size = stream->size - done;

		if (size > region_size - offset)
			size = region_size - offset;
		ret = v1_access(device, true, offset, (void *)stream->bytes + done, size);
		if (!ret)
			ret = v1_access(device, true, V1_FIELD(data_size), &size, sizeof(size));
		if (ret)
			return ret;
		done += size;
	}
	return 0;
}

/* An igb's workload moves to its twin through the v1 region, pre-copy first. */
TEST_F_TIMEOUT(migration, v1_region_then_target_continues, 120)
{
	workload(_metadata, self, 1);
	adopt_saving_layout(self->source, 0);
	ASSERT_EQ(0, v1_set_state(self->source,
				  VFIO_DEVICE_STATE_V1_RUNNING | VFIO_DEVICE_STATE_V1_SAVING));
	v1_read_stream(self->source, &self->stream);
	ASSERT_LT(0, self->stream.size);
	/* Still running: an MSI while the pre-copy record is out. */
	signal_msi(_metadata, self, 2);
	ASSERT_EQ(0, v1_set_state(self->source, VFIO_DEVICE_STATE_V1_SAVING));
	v1_read_stream(self->source, &self->stream);

	ASSERT_EQ(0, v1_set_state(self->target, VFIO_DEVICE_STATE_V1_RESUMING));
	ASSERT_EQ(0, v1_write_stream(self->target, &self->stream));
	vfio_pci_msix_enable(self->target, self->source->driver.msi, 1);
	fcntl_set_nonblock(self->target->msi_eventfds[0]);
	ASSERT_EQ(0, v1_set_state(self->target, VFIO_DEVICE_STATE_V1_STOP));
	to_target(self);
	ASSERT_EQ(self->posted, bar0_read(self->target, E1000_TDH(0)));
	ASSERT_EQ(0, v1_set_state(self->target, VFIO_DEVICE_STATE_V1_RUNNING));
	workload(_metadata, self, 3);
	ASSERT_EQ(0, msis(self->source));
}

/*
 * Both front-ends drive one state machine: a state set through one reads back
 * through the other; an invalid v1 value or access is refused (EINVAL) and
 * changes nothing.
 */
TEST_F_TIMEOUT(migration, v1_and_v2_share_one_state, 120)
{
	const __u32 p2p = RVFIO_DEVICE_STATE_V1_P2P, run = VFIO_DEVICE_STATE_V1_RUNNING;
	const __u32 save = VFIO_DEVICE_STATE_V1_SAVING, resume = VFIO_DEVICE_STATE_V1_RESUMING;
	const struct { __u32 v2, v1; } same[] = {
		{ VFIO_DEVICE_STATE_RUNNING, run },
		{ VFIO_DEVICE_STATE_RUNNING_P2P, run | p2p },
		{ VFIO_DEVICE_STATE_STOP, 0 },
		{ VFIO_DEVICE_STATE_STOP_COPY, save },
		{ VFIO_DEVICE_STATE_PRE_COPY, run | save },
		{ VFIO_DEVICE_STATE_PRE_COPY_P2P, run | save | p2p },
		{ VFIO_DEVICE_STATE_RESUMING, resume },
	};
	const __u32 invalid[] = { resume | run, resume | save, resume | run | save,
				  resume | run | p2p, 1u << 4, 1u << 31 };
	struct vfio_pci_device *dev = self->target;
	__u64 value = 0;
	__u32 word = 0;
	int fd;

	adopt_saving_layout(dev, 0);
	for (size_t i = 0; i < ARRAY_SIZE(same); i++) {
		vfio_pci_device_reset(dev);
		ASSERT_EQ(0, set_state(dev, same[i].v2, &fd));
		if (fd >= 0)
			close(fd);
		ASSERT_EQ(same[i].v1, v1_get_state(dev));

		vfio_pci_device_reset(dev);
		ASSERT_EQ(0, v1_set_state(dev, same[i].v1));
		ASSERT_EQ(same[i].v2, get_state(dev));
		for (size_t j = 0; j < ARRAY_SIZE(invalid); j++) {
			ASSERT_EQ(EINVAL, v1_set_state(dev, invalid[j]));
			ASSERT_EQ(same[i].v2, get_state(dev));
		}
	}
	vfio_pci_device_reset(dev);

	/* Only whole fields in their directions; pending_bytes and data_size outside a session. */
	ASSERT_EQ(EINVAL, v1_access(dev, false, V1_FIELD(device_state), &value, 2));
	ASSERT_EQ(EINVAL, v1_access(dev, false, V1_FIELD(reserved), &word, 4));
	ASSERT_EQ(EINVAL, v1_access(dev, false, V1_FIELD(pending_bytes), &word, 4));
	ASSERT_EQ(EINVAL, v1_access(dev, true, V1_FIELD(pending_bytes), &value, 8));
	ASSERT_EQ(EINVAL, v1_access(dev, true, V1_FIELD(data_offset), &value, 8));
	ASSERT_EQ(EINVAL, v1_access(dev, false, V1_FIELD(pending_bytes), &value, 8));
	ASSERT_EQ(EINVAL, v1_access(dev, false, V1_FIELD(data_size), &value, 8));
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, get_state(dev));
}

/* Loads a stream into the target and checks the refusal; the target is reset after. */
static void refused(struct __test_metadata *_metadata, struct vfio_pci_device *device,
		    const unsigned char *bytes, size_t size, int write_errno, int stop_errno)
{
	int fd, none;

	ASSERT_EQ(0, set_state(device, VFIO_DEVICE_STATE_RESUMING, &fd));
	ASSERT_EQ(write_errno, write_stream(fd, bytes, size));
	ASSERT_EQ(stop_errno, set_state(device, VFIO_DEVICE_STATE_STOP, &none));
	ASSERT_EQ(VFIO_DEVICE_STATE_RESUMING, get_state(device));
	ASSERT_EQ(0, close(fd));
	vfio_pci_device_reset(device);
	ASSERT_EQ(VFIO_DEVICE_STATE_RUNNING, get_state(device));
}

/* Corrupted, oversized and truncated streams are refused; the target still takes a good one. */
TEST_F_TIMEOUT(migration, bad_streams_are_refused, 120)
{
	unsigned char bad[STREAM_MAX];
	size_t size;
	int fd;

	workload(_metadata, self, 1);
	save(_metadata, self, false, NULL);
	size = self->stream.size;

	memcpy(bad, self->stream.bytes, size);
	bad[size / 2] ^= 0x10;
	refused(_metadata, self->target, bad, size, EBADMSG, EBADMSG);

	memcpy(bad, self->stream.bytes, size);
	/* The record size, at byte 40 of the header: 1 MiB. */
	bad[42] = 0x10;
	refused(_metadata, self->target, bad, size, EFBIG, EFBIG);

	refused(_metadata, self->target, self->stream.bytes, size - 1, 0, ENODATA);

	resume(_metadata, self);
	to_target(self);
	ASSERT_EQ(0, set_state(self->target, VFIO_DEVICE_STATE_RUNNING, &fd));
	workload(_metadata, self, 2);
}

/* A device whose config-space layout differs does not take the stream, and stays usable. */
TEST_F_TIMEOUT(migration, other_layout_is_refused, 120)
{
	struct vfio_pci_device *other;

	if (!other_layout_bdf)
		SKIP(return, "no device with another layout given");
	workload(_metadata, self, 1);
	save(_metadata, self, false, NULL);

	other = vfio_pci_device_init(other_layout_bdf, self->iommu);
	refused(_metadata, other, self->stream.bytes, self->stream.size, EXDEV, EXDEV);

	/* Still usable: the driver runs the workload on it. */
	region_setup(self->iommu, self->allocator, &other->driver.region, SZ_2M);
	vfio_pci_driver_init(other);
	fcntl_set_nonblock(other->msi_eventfds[0]);
	self->running = other;
	self->posted = 0;
	workload(_metadata, self, 2);
	self->running = self->source;
	vfio_pci_driver_remove(other);
	region_teardown(self->iommu, &other->driver.region);
	vfio_pci_device_cleanup(other);
}

int main(int argc, char *argv[])
{
	char **bdfs;
	int nr_bdfs;

	bdfs = vfio_selftests_get_bdfs(&argc, argv, &nr_bdfs);
	if (nr_bdfs < 2 || nr_bdfs > 3) {
		fprintf(stderr, "usage: %s [harness options] SOURCE TARGET [OTHER_LAYOUT]\n",
			argv[0]);
		return KSFT_FAIL;
	}
	source_bdf = bdfs[0];
	target_bdf = bdfs[1];
	other_layout_bdf = nr_bdfs == 3 ? bdfs[2] : NULL;
	return test_harness_run(argc, argv);
}
