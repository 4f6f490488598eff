/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the programs that migrate an igb on libvfio's igb driver share: the
 * migration stream read from the source's data fd and written to the
 * target's, the igb's link and MSI waits, and the hand-over of the driver to
 * the target once it resumed.
 */
#ifndef RVFIO_TESTS_IGB_MIGRATION_H
#define RVFIO_TESTS_IGB_MIGRATION_H

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/io.h>
#include <linux/sizes.h>

#include <libvfio.h>

#include "e1000_defines.h"
#include "e1000_regs.h"

/* Longest stream the programs handle: pre-copy and final records of the igb. */
#define STREAM_MAX SZ_64K

struct stream {
	unsigned char bytes[STREAM_MAX];
	size_t size;
};

/*
 * Appends what @fd has to @stream until the end of the stream (read returns
 * 0) or, in a pre-copy state, its temporary end (ENOMSG). Returns the bytes
 * read.
 */
static inline size_t read_stream(int fd, struct stream *stream)
{
	size_t start = stream->size;
	ssize_t got;

	for (;;) {
		got = read(fd, stream->bytes + stream->size, STREAM_MAX - stream->size);
		if (got == 0 || (got < 0 && errno == ENOMSG))
			break;
		VFIO_ASSERT_GT(got, 0, "read: %s\n", strerror(errno));
		stream->size += got;
	}
	return stream->size - start;
}

/* Writes @size bytes of @bytes to @fd in pieces of 1000; returns 0 or the errno. */
static inline int write_stream(int fd, const unsigned char *bytes, size_t size)
{
	size_t done = 0;
	ssize_t put;

	while (done < size) {
		put = write(fd, bytes + done, size - done < 1000 ? size - done : 1000);
		if (put < 0)
			return errno;
		done += put;
	}
	return 0;
}

static inline __u32 bar0_read(struct vfio_pci_device *device, __u32 reg)
{
	return readl(device->bars[0].vaddr + reg);
}

/*
 * Waits up to 5 s for @device's link. QEMU's igb brings it up 500 ms after a
 * reset, by a timer of its own; the igb driver's init sleeps only a little
 * longer than that, so on a loaded host its link can still be down after init.
 */
static inline void wait_link_up(struct vfio_pci_device *device)
{
	for (int i = 0; i < 500 && !(bar0_read(device, E1000_STATUS) & E1000_STATUS_LU); i++)
		usleep(10 * 1000);
	VFIO_ASSERT_TRUE(bar0_read(device, E1000_STATUS) & E1000_STATUS_LU, "no link\n");
}

/* Number of MSIs signalled on @device's vector 0 since the last call. */
static inline __u64 msis(struct vfio_pci_device *device)
{
	__u64 count = 0;

	if (read(device->msi_eventfds[0], &count, sizeof(count)) < 0)
		VFIO_ASSERT_EQ(errno, EAGAIN);
	return count;
}

/*
 * Waits for an MSI on @device's vector 0, for at most 10 s: only where one is
 * due, so a passing run never waits that long, and a loaded host's late
 * delivery is not taken for a missing MSI.
 */
static inline __u64 wait_msi(struct vfio_pci_device *device)
{
	struct pollfd pfd = { .fd = device->msi_eventfds[0], .events = POLLIN };

	poll(&pfd, 1, 10 * 1000);
	return msis(device);
}

/*
 * The driver moves from @from to @to, which resumed @from's stream: @to's
 * BAR 0 takes the place of @from's in the address space, as a VMM maps the
 * target's BAR at the guest-physical address the source's had, and the
 * driver's state goes along as is.
 */
static inline void hand_over(struct vfio_pci_device *from, struct vfio_pci_device *to)
{
	struct vfio_pci_bar *old = &from->bars[0], *new = &to->bars[0];
	void *at;

	at = mmap(old->vaddr, new->info.size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		  to->fd, new->info.offset);
	VFIO_ASSERT_EQ(at, old->vaddr);
	VFIO_ASSERT_EQ(munmap(new->vaddr, new->info.size), 0);
	new->vaddr = at;
	old->vaddr = NULL;

	to->driver = from->driver;
	from->driver.initialized = false;
	from->driver.memcpy_in_progress = false;
}

#endif /* RVFIO_TESTS_IGB_MIGRATION_H */
