/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a VMM does with the BAR pages a device keeps out of the user's
 * mappings (its doorbells, while it saves or logs DMA): it traps the guest's
 * accesses to them and forwards each through the region's read/write path.
 *
 * For the tests on libvfio, whose drivers access BARs through their mapping:
 * after adopt_saving_layout() unmapped the trapped pages of a BAR,
 * trap_unmapped_pages() puts inaccessible anonymous pages in their place.
 * An access to one faults (SIGSEGV); the handler reads the 32-bit register
 * accessed from the region into the page, opens the page and single-steps the
 * access (the trap flag); the SIGTRAP that follows writes the register back
 * to the region if the access was a write, and closes the page again. Every
 * access is then a region access, as in a VM. x86-64 only, one thread.
 */
#ifndef RVFIO_TESTS_PAGE_TRAP_H
#define RVFIO_TESTS_PAGE_TRAP_H

#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include <libvfio.h>

#include "saving_layout.h"

/* The x86 page fault error code's write bit, and EFLAGS' trap flag. */
#define PAGE_TRAP_FAULT_WRITE 0x2
#define PAGE_TRAP_EFLAGS_TF 0x100

struct page_trap {
	struct vfio_pci_device *device;
	int bar;
	void *base;
	size_t size;
	/* The access being single-stepped: its register's page and offset. */
	void *page;
	__u64 reg;
	bool write;
	/* Accesses forwarded so far, writes among them. */
	__u64 accesses, writes;
};

static struct page_trap page_trap;

static void page_trap_forward(bool write, __u64 reg, void *at)
{
	const struct vfio_pci_bar *bar = &page_trap.device->bars[page_trap.bar];
	ssize_t done;

	if (write)
		done = pwrite(page_trap.device->fd, at, 4, bar->info.offset + reg);
	else
		done = pread(page_trap.device->fd, at, 4, bar->info.offset + reg);
	VFIO_ASSERT_EQ(done, 4, "trapped access to BAR %d at %#llx\n", page_trap.bar,
		       (unsigned long long)reg);
}

static void page_trap_on_fault(int sig, siginfo_t *info, void *context)
{
	ucontext_t *uc = context;
	char *addr = info->si_addr, *base = page_trap.base;
	long page_size = sysconf(_SC_PAGESIZE);

	if (addr < base || addr >= base + page_trap.size) {
		/* Not ours: fault again with the default action. */
		signal(sig, SIG_DFL);
		return;
	}
	page_trap.reg = (addr - base) & ~3ULL;
	page_trap.write = uc->uc_mcontext.gregs[REG_ERR] & PAGE_TRAP_FAULT_WRITE;
	page_trap.page = base + ((addr - base) & ~(page_size - 1));
	VFIO_ASSERT_EQ(mprotect(page_trap.page, page_size, PROT_READ | PROT_WRITE), 0);
	page_trap_forward(false, page_trap.reg, base + page_trap.reg);
	uc->uc_mcontext.gregs[REG_EFL] |= PAGE_TRAP_EFLAGS_TF;
}

static void page_trap_on_step(int sig, siginfo_t *info, void *context)
{
	ucontext_t *uc = context;

	(void)sig;
	(void)info;
	if (page_trap.write) {
		page_trap_forward(true, page_trap.reg, (char *)page_trap.base + page_trap.reg);
		page_trap.writes++;
	}
	page_trap.accesses++;
	VFIO_ASSERT_EQ(mprotect(page_trap.page, sysconf(_SC_PAGESIZE), PROT_NONE), 0);
	uc->uc_mcontext.gregs[REG_EFL] &= ~PAGE_TRAP_EFLAGS_TF;
}

/*
 * Traps the pages of BAR @bar's mapping outside its saving layout (which
 * adopt_saving_layout() unmapped): from now on every access to them goes
 * through the region.
 */
static inline void trap_unmapped_pages(struct vfio_pci_device *device, int bar)
{
	struct vfio_region_sparse_mmap_area areas[SAVING_MAX_AREAS];
	struct vfio_pci_bar *mapped = &device->bars[bar];
	int count = saving_areas(device, bar, areas);
	struct sigaction fault = { .sa_sigaction = page_trap_on_fault, .sa_flags = SA_SIGINFO };
	struct sigaction step = { .sa_sigaction = page_trap_on_step, .sa_flags = SA_SIGINFO };
	__u64 at = 0;

	VFIO_ASSERT_GE(count, 0, "BAR %d has no saving layout\n", bar);
	memset(&page_trap, 0, sizeof(page_trap));
	page_trap.device = device;
	page_trap.bar = bar;
	page_trap.base = mapped->vaddr;
	page_trap.size = mapped->info.size;
	for (int i = 0; i <= count; i++) {
		__u64 end = i < count ? areas[i].offset : mapped->info.size;

		if (end > at)
			VFIO_ASSERT_NE(mmap((char *)mapped->vaddr + at, end - at, PROT_NONE,
					    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0),
				       MAP_FAILED);
		if (i < count)
			at = areas[i].offset + areas[i].size;
	}
	VFIO_ASSERT_EQ(sigaction(SIGSEGV, &fault, NULL), 0);
	VFIO_ASSERT_EQ(sigaction(SIGTRAP, &step, NULL), 0);
}

/* Ends the trapping: the handlers go; the inaccessible pages stay. */
static inline void untrap_pages(void)
{
	signal(SIGSEGV, SIG_DFL);
	signal(SIGTRAP, SIG_DFL);
}

#endif /* RVFIO_TESTS_PAGE_TRAP_H */
