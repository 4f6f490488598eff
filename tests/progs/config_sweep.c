// SPDX-License-Identifier: GPL-2.0
/*
 * config_sweep: every dword of a VFIO device's config region, some writes,
 * and one read and one write of BAR 0, as a VMM touching a hostile device
 * would; says what came back and how long BAR 0 took.
 *
 *   config_sweep BDF
 *
 * Prints "sweep: N dwords, F failed, O all ones", "writes: W of N failed"
 * (each written dword is the value just read, so nothing changes on a sane
 * device) and "bar0 read|write: ok|failed (ERRNO) in MS ms". Exits 0 when the
 * device could be opened and every access returned, whatever it returned: a
 * hostile device may fail them.
 */
#include <stdint.h>
#include <time.h>

#include "vfio_cdev.h"

#define CONFIG_SIZE 4096
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Dwords written back: command/status, the cache line and latency, the
 * interrupt line, the first standard and first extended capability
 * headers and the last dword of extended config space.
 */
static const __u32 written[] = { 0x04, 0x0c, 0x3c, 0x40, 0x100, 0xffc };

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void bar0_access(int device, __u64 base, int write)
{
	__u32 value = 0;
	double start = now_ms();
	ssize_t done = write ? pwrite(device, &value, 4, base + 4) :
			       pread(device, &value, 4, base);
	int err = done == 4 ? 0 : (done < 0 ? errno : EIO);

	printf("bar0 %s: %s%s%s in %.0f ms\n", write ? "write" : "read",
	       err ? "failed (" : "ok", err ? strerror(err) : "", err ? ")" : "",
	       now_ms() - start);
}

int main(int argc, char **argv)
{
	struct vfio_region_info config = { .argsz = sizeof(config),
					   .index = VFIO_PCI_CONFIG_REGION_INDEX };
	struct vfio_region_info bar0 = { .argsz = sizeof(bar0),
					 .index = VFIO_PCI_BAR0_REGION_INDEX };
	unsigned int failed = 0, ones = 0, write_failed = 0;
	__u32 at, value;
	size_t i;
	int device;

	if (argc != 2) {
		fprintf(stderr, "usage: %s BDF\n", argv[0]);
		return 2;
	}
	device = vfio_open_device(argv[1]);
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &config) ||
	    ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar0))
		vfio_cdev_die("VFIO_DEVICE_GET_REGION_INFO");
	for (at = 0; at < CONFIG_SIZE; at += 4) {
		if (pread(device, &value, 4, config.offset + at) != 4)
			failed++;
		else if (value == 0xffffffff)
			ones++;
	}
	printf("sweep: %u dwords, %u failed, %u all ones\n", CONFIG_SIZE / 4, failed, ones);
	for (i = 0; i < ARRAY_SIZE(written); i++) {
		if (pread(device, &value, 4, config.offset + written[i]) != 4 ||
		    pwrite(device, &value, 4, config.offset + written[i]) != 4)
			write_failed++;
	}
	printf("writes: %u of %zu failed\n", write_failed, ARRAY_SIZE(written));
	bar0_access(device, bar0.offset, 0);
	bar0_access(device, bar0.offset, 1);
	close(device);
	return 0;
}
