// SPDX-License-Identifier: GPL-2.0
/*
 * teardown_load: a user in the middle of migrating an igb bound to rvfio-pci,
 * for tests/vm/teardown.sh to tear the device down under (unbind, rmmod, FLR
 * through sysfs, removal).
 *
 *   teardown_load BDF SECONDS
 *
 * Opens the device's VFIO cdev as a VMM does, registers a device-request
 * eventfd, maps BAR 0 as its saving layout allows (so saving may start) and
 * runs four threads until the kernel asks for the device back or SECONDS
 * pass:
 *   - migration: PRE_COPY, PRECOPY_INFO and the stream, STOP_COPY and the
 *     rest of it, back to RUNNING; a data fd is open most of the time;
 *   - reset: VFIO_DEVICE_RESET, which holds the device for an FLR;
 *   - access: config space and BAR 0 through the region, and the mapped pages;
 *   - features: GET of the migration state, its data size and the PASID/ATS
 *     feature.
 * Then it stops the threads, unmaps, closes every fd and prints what each
 * thread did: operations and errnos. Teardown makes calls fail; which errno is
 * the kernel's business, so failures are counted, not judged. What must hold
 * is that the program ends (no thread stays stuck in the kernel), which the
 * script checks, and that the kernel reports nothing, which the harness does.
 *
 * Prints "teardown_load: running" once every thread runs, "teardown_load:
 * request received" when the kernel asks for the device, "teardown_load:
 * released" at the end; exit status 0, or 2 if it could not start.
 */
#define _GNU_SOURCE /* strerrorname_np */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/rvfio.h>
#include <linux/vfio.h>

#include "mig_feature.h"
#include "region_cap.h"
#include "vfio_cdev.h"

#define THREADS 4
/* Distinct errnos a thread tells apart; any others share the last slot. */
#define ERRNOS 8

struct worker {
	const char *name;
	void (*step)(struct worker *w);
	pthread_t thread;
	unsigned long ops;
	int errnos[ERRNOS];
	unsigned long errno_counts[ERRNOS];
	/* The migration thread's data fd, -1 when none is open. */
	int data_fd;
	unsigned long cycles;
};

static int device;
static atomic_int stopping;
static struct vfio_region_info bar0, config;
static uint32_t *mapped;
static size_t mapped_len;
static unsigned char stream[64 * 1024];

static void die(const char *what)
{
	fprintf(stderr, "teardown_load: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Counts one operation that returned @err (0 for success). */
static void count(struct worker *w, int err)
{
	int i;

	w->ops++;
	if (!err)
		return;
	for (i = 0; i < ERRNOS - 1 && w->errnos[i] && w->errnos[i] != err; i++)
		;
	w->errnos[i] = w->errnos[i] ? w->errnos[i] : err;
	w->errno_counts[i]++;
}

/* Reads the data fd until the stream's end or its temporary end; returns 0 or the errno. */
static int drain(int fd)
{
	ssize_t got;

	do
		got = read(fd, stream, sizeof(stream));
	while (got > 0);
	return got == 0 || errno == ENOMSG ? 0 : errno;
}

static void migration_step(struct worker *w)
{
	struct vfio_precopy_info info = { .argsz = sizeof(info) };
	int err;

	if (w->data_fd < 0) {
		count(w, set_state(device, VFIO_DEVICE_STATE_PRE_COPY, &w->data_fd));
		return;
	}
	count(w, ioctl(w->data_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) ? errno : 0);
	count(w, drain(w->data_fd));
	err = set_state(device, VFIO_DEVICE_STATE_STOP_COPY, NULL);
	count(w, err);
	if (!err)
		count(w, drain(w->data_fd));
	close(w->data_fd);
	w->data_fd = -1;
	err = set_state(device, VFIO_DEVICE_STATE_RUNNING, NULL);
	count(w, err);
	w->cycles += !err;
}

static void reset_step(struct worker *w)
{
	count(w, ioctl(device, VFIO_DEVICE_RESET) ? errno : 0);
	usleep(20 * 1000);
}

static void access_step(struct worker *w)
{
	uint32_t value;

	count(w, pread(device, &value, 4, config.offset) == 4 ? 0 : errno);
	count(w, pread(device, &value, 4, bar0.offset + 8) == 4 ? 0 : errno);
	/* The first mapped dword: an access a VMM's guest makes without a syscall. */
	if (mapped)
		value = atomic_load((_Atomic uint32_t *)mapped);
	(void)value;
	w->ops += !!mapped;
}

static void features_step(struct worker *w)
{
	struct vfio_device_feature_mig_data_size size = { 0 };
	unsigned char pasid_ats[64] = { 0 };

	count(w, get_state(device) == ~0u ? errno : 0);
	count(w, feature(device, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			 &size, sizeof(size)));
	count(w, feature_sized(device, VFIO_DEVICE_FEATURE_GET |
			       RVFIO_DEVICE_FEATURE_PCI_PASID_ATS, pasid_ats, 64,
			       sizeof(struct vfio_device_feature) + 64));
}

static void *run(void *arg)
{
	struct worker *w = arg;

	while (!atomic_load(&stopping))
		w->step(w);
	return NULL;
}

/*
 * Maps the first area of BAR 0's saving layout: a mapping that may stay while
 * the device saves, so the migration thread's PRE_COPY is not refused.
 */
static void map_bar0(void)
{
	struct vfio_region_info_cap_sparse_mmap *saving;
	void *p;

	saving = bar0_cap(device, VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING, &bar0);
	if (!saving || !saving->nr_areas)
		return;
	mapped_len = saving->areas[0].size;
	p = mmap(NULL, mapped_len, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		 bar0.offset + saving->areas[0].offset);
	if (p == MAP_FAILED)
		die("mmap of BAR 0's saving layout");
	mapped = p;
}

int main(int argc, char **argv)
{
	struct worker workers[THREADS] = {
		{ .name = "migration", .step = migration_step },
		{ .name = "reset", .step = reset_step },
		{ .name = "access", .step = access_step },
		{ .name = "features", .step = features_step },
	};
	struct pollfd pfd = { .events = POLLIN };
	uint64_t requests;
	int i, j;

	if (argc != 3 || atoi(argv[2]) <= 0) {
		fprintf(stderr, "usage: teardown_load BDF SECONDS\n");
		return 2;
	}
	device = vfio_open_device(argv[1]);
	config.argsz = sizeof(config);
	config.index = VFIO_PCI_CONFIG_REGION_INDEX;
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &config))
		die("VFIO_DEVICE_GET_REGION_INFO(config)");
	pfd.fd = eventfd(0, 0);
	if (pfd.fd < 0)
		die("eventfd");
	vfio_register_request_eventfd(device, pfd.fd);
	map_bar0();

	for (i = 0; i < THREADS; i++) {
		workers[i].data_fd = -1;
		if (pthread_create(&workers[i].thread, NULL, run, &workers[i]))
			die("pthread_create");
	}
	printf("teardown_load: running on %s\n", argv[1]);
	fflush(stdout);
	if (poll(&pfd, 1, atoi(argv[2]) * 1000) == 1 &&
	    read(pfd.fd, &requests, sizeof(requests)) == sizeof(requests))
		printf("teardown_load: request received\n");
	else
		printf("teardown_load: no request within %s s\n", argv[2]);
	fflush(stdout);

	atomic_store(&stopping, 1);
	for (i = 0; i < THREADS; i++) {
		pthread_join(workers[i].thread, NULL);
		if (workers[i].data_fd >= 0)
			close(workers[i].data_fd);
	}
	if (mapped)
		munmap(mapped, mapped_len);
	close(device);
	close(pfd.fd);
	printf("teardown_load: released\n");

	for (i = 0; i < THREADS; i++) {
		struct worker *w = &workers[i];

		printf("teardown_load: %-9s %lu operations", w->name, w->ops);
		if (w->step == migration_step)
			printf(", %lu migration cycles", w->cycles);
		for (j = 0; j < ERRNOS && w->errnos[j]; j++)
			printf(", %s x%lu", strerrorname_np(w->errnos[j]) ?: "?",
			       w->errno_counts[j]);
		printf("\n");
	}
	return 0;
}
