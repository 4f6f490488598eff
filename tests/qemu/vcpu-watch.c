// SPDX-License-Identifier: GPL-2.0
/*
 * vcpu-watch: the test guest's watch over its own vCPUs' timers.
 *
 * Under TCG, a vCPU of the test VM sometimes sits in HLT for good: its local
 * APIC timer no longer interrupts it, while the other vCPU runs on. When a
 * grace period is pending, RCU says so ("Possible timer handling issue on
 * cpu=N"); when the guest is otherwise idle nothing does, and a task sleeping
 * on that CPU (a selftest's usleep(), say) never wakes.
 *
 * One thread per online CPU, pinned to it, sleeps one second at a time and
 * records when its timer last woke it and how much busy (non-idle) time its
 * CPU had then. After each wakeup a thread looks at the others. A CPU whose
 * timer has not woken its thread for SILENT_S seconds, and which was not busy
 * for most of that time, has lost its timer. (With a periodic tick the
 * kernel accounts time from that very tick, so such a CPU accounts nothing;
 * with a tickless kernel it accounts idle time.) The watcher says so, waits
 * KICK_DELAY_S seconds (run-guest records the vCPUs' state from QEMU then),
 * and sends that thread a signal: waking a thread on a halted CPU sends it an
 * IPI, and a CPU that QEMU failed to wake for a pending timer interrupt then
 * takes it and ticks on. If the timer still has not woken the thread
 * KICK_GRACE_S seconds after the IPI, the timer has stopped for good: the
 * watcher says that too, and run-guest, after checking with QEMU that the vCPU
 * is halted (not spinning with interrupts off), stops the VM and boots it once
 * more. A busy CPU is left to the kernel's own lockup detectors.
 *
 * Lines, each written whole:
 *   vcpu-watch: cpu N: timer silent for S s; waking it with an IPI in 3 s
 *   vcpu-watch: cpu N: timer fired by itself; no IPI sent
 *   vcpu-watch: cpu N: woken by the IPI
 *   vcpu-watch: cpu N: timer fires again after S s
 *   vcpu-watch: cpu N: timer stays silent S s after an IPI
 *
 * Started in the background by run-guest's /init; it never exits by itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CPUS 64
#define SILENT_S 20
#define KICK_DELAY_S 3
#define KICK_GRACE_S 10
/* A busy share of the silence at least this, in percent, means busy. */
#define BUSY_SHARE_PCT 50

struct cpu_watch {
	pthread_t thread;
	/* CLOCK_MONOTONIC milliseconds of the last wakeup by its timer. */
	atomic_llong woke_ms;
	/* The CPU's busy milliseconds (/proc/stat) at that wakeup. */
	atomic_llong busy_ms;
	/* When a watcher found it silent; 0 if never. */
	atomic_llong kicked_ms;
	/* The kick whose failure was reported, so it is reported once. */
	atomic_llong reported_ms;
};

static struct cpu_watch cpus[MAX_CPUS];
static int ncpus;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void say(const char *fmt, ...)
{
	char line[160];
	va_list ap;
	int len;

	len = snprintf(line, sizeof(line), "vcpu-watch: ");
	va_start(ap, fmt);
	len += vsnprintf(line + len, sizeof(line) - len, fmt, ap);
	va_end(ap);
	if (len >= (int)sizeof(line) - 1)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line, so lines never interleave with the tests'. */
	if (write(STDOUT_FILENO, line, len) < 0)
		return;
}

/* Busy (neither idle nor iowait) time of CPU cpu from /proc/stat, in ms; -1 if unknown. */
static long long cpu_busy_ms(int cpu)
{
	unsigned long long user, nice, sys, idle, iowait, irq, softirq, steal;
	char name[16], line[256];
	long long result = -1;
	FILE *stat;

	snprintf(name, sizeof(name), "cpu%d", cpu);
	stat = fopen("/proc/stat", "r");
	if (!stat)
		return -1;
	while (fgets(line, sizeof(line), stat)) {
		char field[16];

		if (sscanf(line, "%15s %llu %llu %llu %llu %llu %llu %llu %llu", field, &user, &nice,
			   &sys, &idle, &iowait, &irq, &softirq, &steal) == 9 &&
		    strcmp(field, name) == 0) {
			result = (long long)(user + nice + sys + irq + softirq + steal) * 1000 /
				 sysconf(_SC_CLK_TCK);
			break;
		}
	}
	fclose(stat);
	return result;
}

/* Looks at CPU cpu from another CPU's thread, at time now. */
static void check(int cpu, long long now)
{
	struct cpu_watch *w = &cpus[cpu];
	long long woke = atomic_load(&w->woke_ms);
	long long kicked = atomic_load(&w->kicked_ms);
	long long silent = now - woke, busy_then, busy_now;

	if (silent < SILENT_S * 1000)
		return;
	if (kicked > woke) {
		long long reported = atomic_load(&w->reported_ms);

		if (now - kicked >= (KICK_DELAY_S + KICK_GRACE_S) * 1000 && reported != kicked &&
		    atomic_compare_exchange_strong(&w->reported_ms, &reported, kicked))
			say("cpu %d: timer stays silent %lld s after an IPI", cpu,
			    (now - kicked) / 1000 - KICK_DELAY_S);
		return;
	}
	busy_then = atomic_load(&w->busy_ms);
	busy_now = cpu_busy_ms(cpu);
	if (busy_then < 0 || busy_now < 0 || (busy_now - busy_then) * 100 >= silent * BUSY_SHARE_PCT)
		return;
	/* Another thread may be looking at the same CPU: one of them kicks. */
	if (!atomic_compare_exchange_strong(&w->kicked_ms, &kicked, now))
		return;
	say("cpu %d: timer silent for %lld s; waking it with an IPI in %d s", cpu, silent / 1000,
	    KICK_DELAY_S);
	sleep(KICK_DELAY_S);
	/* Its thread may have woken since it was read above: then it needs no IPI. */
	if (atomic_load(&w->woke_ms) != woke) {
		say("cpu %d: timer fired by itself; no IPI sent", cpu);
		return;
	}
	pthread_kill(w->thread, SIGUSR1);
}

static void *watch(void *arg)
{
	int self = (int)(long)arg;
	struct cpu_watch *w = &cpus[self];
	const struct timespec second = { .tv_sec = 1 };
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(self, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set)) {
		say("cpu %d: cannot pin a thread to it; not watched", self);
		return NULL;
	}
	for (;;) {
		long long now, last;

		/* EINTR is a watcher's kick: proof that IPIs still reach this CPU. */
		if (clock_nanosleep(CLOCK_MONOTONIC, 0, &second, NULL) == EINTR) {
			say("cpu %d: woken by the IPI", self);
			continue;
		}
		now = now_ms();
		last = atomic_load(&w->woke_ms);
		if (atomic_load(&w->kicked_ms) > last)
			say("cpu %d: timer fires again after %lld s", self, (now - last) / 1000);
		atomic_store(&w->busy_ms, cpu_busy_ms(self));
		atomic_store(&w->woke_ms, now);
		for (int cpu = 0; cpu < ncpus; cpu++)
			if (cpu != self)
				check(cpu, now);
	}
	return NULL;
}

static void on_kick(int sig)
{
	(void)sig;
}

int main(void)
{
	struct sigaction kick = { .sa_handler = on_kick };
	long long start = now_ms();

	ncpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpus < 2) {
		say("%d CPU: no other CPU to watch it from", ncpus);
		return 0;
	}
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	/* No SA_RESTART: the kick must end the sleep. */
	sigemptyset(&kick.sa_mask);
	if (sigaction(SIGUSR1, &kick, NULL)) {
		say("sigaction: %s", strerror(errno));
		return 1;
	}
	for (int cpu = 0; cpu < ncpus; cpu++) {
		atomic_store(&cpus[cpu].woke_ms, start);
		atomic_store(&cpus[cpu].busy_ms, cpu_busy_ms(cpu));
	}
	for (int cpu = 0; cpu < ncpus; cpu++) {
		int err = pthread_create(&cpus[cpu].thread, NULL, watch, (void *)(long)cpu);

		if (err) {
			say("pthread_create: %s", strerror(err));
			return 1;
		}
	}
	pause();
	return 0;
}
