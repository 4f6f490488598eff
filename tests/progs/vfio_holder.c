// SPDX-License-Identifier: GPL-2.0
/*
 * vfio_holder: open a PCI device the way a VMM does (its VFIO cdev bound to
 * iommufd and attached to an IOAS, or its group in a container on a kernel
 * without iommufd) and hold it, to test what the driver does when the device
 * is unbound while a user has it open.
 *
 *   vfio_holder BDF request SECONDS   register a device-request eventfd and
 *                                     release the device when the kernel
 *                                     asks for it; exit 0 only if it asked
 *   vfio_holder BDF hold SECONDS      hold the device SECONDS, then release
 *
 * Prints "holder: open" once the device is open, so a script can wait for it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "vfio_cdev.h"

static void die(const char *what)
{
	fprintf(stderr, "holder: %s: %s\n", what, strerror(errno));
	exit(2);
}

int main(int argc, char **argv)
{
	int device, efd = -1, seconds, asked = 0;

	if (argc != 4 || (strcmp(argv[2], "request") && strcmp(argv[2], "hold"))) {
		fprintf(stderr, "usage: %s BDF request|hold SECONDS\n", argv[0]);
		return 2;
	}
	seconds = atoi(argv[3]);
	device = vfio_open_device(argv[1]);

	if (!strcmp(argv[2], "request")) {
		efd = eventfd(0, 0);
		if (efd < 0)
			die("eventfd");
		vfio_register_request_eventfd(device, efd);
	}
	printf("holder: open %s\n", argv[1]);
	fflush(stdout);
	if (efd >= 0) {
		struct pollfd pfd = { .fd = efd, .events = POLLIN };
		uint64_t count;

		if (poll(&pfd, 1, seconds * 1000) == 1 &&
		    read(efd, &count, sizeof(count)) == sizeof(count)) {
			printf("holder: request received (%llu)\n",
			       (unsigned long long)count);
			asked = 1;
		} else {
			printf("holder: no request within %d s\n", seconds);
		}
	} else {
		sleep(seconds);
	}

	close(device);
	printf("holder: released\n");
	return efd >= 0 && !asked;
}
