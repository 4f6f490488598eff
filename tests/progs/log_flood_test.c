// SPDX-License-Identifier: GPL-2.0
/*
 * log_flood_test: what a user who keeps provoking refusals can put in the
 * kernel log through rvfio-pci (Documentation/messages.rst).
 *
 *   log_flood_test IGB_BDF [STREAMS [RETRIES [CALLS]]]
 *
 * On an igb bound to rvfio-pci, through the upstream uAPI only:
 *
 * - STREAMS bad migration streams (default 40): nothing, random bytes, a
 *   saved stream with one bit flipped, a saved stream one byte short; each
 *   refused RETRIES times (default 100) when leaving RESUMING; then refusals
 *   of one more until one is suppressed, and after a pause longer than the
 *   rate limit's interval one more bad stream, whose refusals must log again;
 * - CALLS (default 1000) rounds of bad VFIO_DEVICE_FEATURE calls: a state
 *   that does not exist, an arc the rules refuse, SET and bad flags on the
 *   PASID/ATS feature, an unknown feature, a short argsz, unknown flag bits;
 * - CALLS rounds of transitions into the three saving states refused with
 *   EBUSY while a doorbell page of BAR 0 is mapped.
 *
 * Every refusal must give its errno. The driver's lines in the kernel log,
 * read from /dev/kmsg as they come (so a full log buffer loses none), must
 * stay within what its rate limits allow for each message in each interval,
 * told apart by the lines' own kernel timestamps and "callbacks suppressed"
 * lines, never by how long the test took; no other line may name the driver
 * (the resets the test makes included), and the refused-stream message must
 * come back after the pause, after its suppressed count.
 *
 * Prints "RESULT flood_<check> PASS|FAIL (detail)" lines and a
 * "# log: ..." line with the counts; exits 1 if any check failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>
#include <linux/rvfio.h>

#include "mig_feature.h"
#include "results.h"
#include "vfio_cdev.h"

#define result(name, pass, ...) result_of("flood", name, pass, __VA_ARGS__)

/*
 * The driver's rate limits (drivers/vfio/pci/rvfio/vfio/ratelimit.rs, the
 * kernel's defaults): for each device and message, at most BURST lines in
 * each INTERVAL_S seconds, plus one "<message>: N callbacks suppressed" line
 * when a line goes out after an interval in which some were suppressed.
 */
#define BURST 10
#define INTERVAL_S 5
#define INTERVAL_US (INTERVAL_S * 1000000LL)

/* A saved stream: one final record of an igb (2428 bytes). */
#define STREAM_MAX 16384
/* The doorbell page of the legacy receive tails, outside BAR 0's saving layout. */
#define DOORBELL_PAGE 0x2000
#define PAGE 4096

/* The messages a user can trigger (Documentation/messages.rst), each rate-limited. */
static const char *const user_message[] = {
	"migration stream refused",
	"loading the migrated state failed",
};

#define USER_MESSAGES 2

/* A line of a user message: when the kernel logged it, and whether it is the suppressed count. */
struct line {
	long long usec;
	int suppressed;
};

/* What the driver put in the kernel log since the start, read from /dev/kmsg. */
static struct {
	int fd;
	long lines;			/* records whose text names rvfio-pci */
	long of[USER_MESSAGES];		/* a user message, or its suppressed count */
	long suppressed;		/* "...: N callbacks suppressed" */
	long other;			/* any other line naming rvfio-pci */
	long lost;			/* records overwritten before they were read */
	struct line *line[USER_MESSAGES];	/* of[] lines of each message, in order */
	char first[256], first_other[256];
} klog = { .fd = -1 };

/* Counts the records logged since the last call. */
static void klog_drain(void)
{
	char rec[8192], *text, *end;
	long long usec;
	struct line *l;
	int message;
	ssize_t n;

	for (;;) {
		n = read(klog.fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE) {
			klog.lost++;
			continue;
		}
		if (n <= 0)
			return;
		rec[n] = 0;
		/* "prio,seq,usec,flags;text\n" then the record's dictionary lines */
		text = strchr(rec, ';');
		if (!text || sscanf(rec, "%*u,%*u,%lld", &usec) != 1)
			continue;
		text++;
		end = strchr(text, '\n');
		if (end)
			*end = 0;
		if (!strstr(text, "rvfio-pci"))
			continue;
		klog.lines++;
		if (!klog.first[0])
			snprintf(klog.first, sizeof(klog.first), "%s", text);
		for (message = 0; message < USER_MESSAGES; message++)
			if (strstr(text, user_message[message]))
				break;
		if (message < USER_MESSAGES) {
			l = realloc(klog.line[message],
				    (klog.of[message] + 1) * sizeof(*l));
			if (!l)
				vfio_cdev_die("realloc");
			klog.line[message] = l;
			l += klog.of[message]++;
			l->usec = usec;
			l->suppressed = !!strstr(text, "callbacks suppressed");
			klog.suppressed += l->suppressed;
		} else if (!klog.other++) {
			snprintf(klog.first_other, sizeof(klog.first_other), "%s", text);
		}
	}
}

/*
 * The lines of @message in its rate limit's intervals, each at most BURST
 * and one suppressed count: the kernel's ___ratelimit() starts an interval at
 * a call more than INTERVAL_S after the previous one began, and prints the
 * suppressed count first when it suppressed any in the previous one. So a
 * new interval begins at a "callbacks suppressed" line, or at a line more than
 * INTERVAL_S after the interval's first line (by the kernel's timestamps:
 * nothing here depends on how long the test took). Returns the number of
 * intervals and gives the most lines in one and the most in any window of
 * INTERVAL_S, which can be more (the end of one interval and the start of the
 * next), for the record.
 */
static long intervals(int message, long *most, long *window)
{
	const struct line *l = klog.line[message];
	long n = 0, in = 0, first = 0;

	*most = *window = 0;
	for (long i = 0, j = 0; i < klog.of[message]; i++) {
		if (!i || l[i].suppressed || l[i].usec - l[first].usec > INTERVAL_US) {
			n++;
			first = i;
			in = 0;
		}
		if (++in > *most)
			*most = in;
		while (l[i].usec - l[j].usec >= INTERVAL_US)
			j++;
		if (i - j + 1 > *window)
			*window = i - j + 1;
	}
	return n;
}

/* Writes all of @buf to a data fd (which takes at most a page a call); 0 or errno. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len) {
		n = write(fd, buf, len);
		if (n < 0)
			return errno;
		buf += n;
		len -= n;
	}
	return 0;
}

/* Saves the device through STOP_COPY; returns the stream's length. */
static size_t save_stream(int device, unsigned char *stream)
{
	size_t total = 0;
	ssize_t got;
	int fd;

	back_to_running(device);
	errno = set_state(device, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	if (errno)
		vfio_cdev_die("STOP_COPY");
	while ((got = read(fd, stream + total, STREAM_MAX - total)) > 0)
		total += got;
	close(fd);
	back_to_running(device);
	return total;
}

/* Refusals of one kind: how many, how many calls gave the wrong errno, the last of those. */
struct tally {
	long n, wrong;
	char detail[160];
};

/*
 * Counts one call, which gave @got where @want was due (a refusal unless @want
 * is 0); @fmt says what was called.
 */
static void tally(struct tally *t, int got, int want, const char *fmt, ...)
{
	char what[100];
	va_list ap;

	t->n += want != 0;
	if (got == want)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	t->wrong++;
	snprintf(t->detail, sizeof(t->detail), "%s: %s", what, got ? strerror(got) : "no error");
}

/* Checks that the device is in @state after a run of refusals, which changed nothing. */
static void tally_state(struct tally *t, int device, __u32 state)
{
	__u32 now = get_state(device);

	if (now != state) {
		t->wrong++;
		snprintf(t->detail, sizeof(t->detail), "state %u after the refusals, not %u",
			 now, state);
	}
}

enum bad_stream { NOTHING, RANDOM, FLIPPED, SHORT, KINDS };
static const char *const kind_name[KINDS] = { "nothing", "random", "flipped", "short" };
/* The errno of the write, and of every attempt to leave RESUMING. */
static const int write_errno[KINDS] = { 0, EINVAL, EBADMSG, 0 };
static const int leave_errno[KINDS] = { ENODATA, EINVAL, EBADMSG, ENODATA };

/*
 * Bad streams number @first to @first + @streams - 1, each refused @retries
 * times; the attempts to leave RESUMING, which log, are counted in @leaving.
 */
static void bad_streams(int device, int first, int streams, int retries,
			const unsigned char *good, size_t len, struct tally *t,
			struct tally *leaving)
{
	static unsigned char buf[STREAM_MAX];

	for (int s = first; s < first + streams; s++) {
		enum bad_stream kind = s % KINDS;
		size_t n = 0;
		int fd;

		back_to_running(device);
		tally(t, set_state(device, VFIO_DEVICE_STATE_STOP, NULL), 0, "STOP");
		tally(t, set_state(device, VFIO_DEVICE_STATE_RESUMING, &fd), 0, "RESUMING");
		if (fd < 0)
			continue;
		switch (kind) {
		case RANDOM:
			n = 64 + rand() % 2048;
			for (size_t i = 0; i < n; i++)
				buf[i] = rand();
			buf[0] = 'X';	/* not the magic */
			break;
		case FLIPPED:
			/* A bit of the sections, between the header and the checksum. */
			memcpy(buf, good, len);
			buf[48 + rand() % (len - 52)] ^= 1 << (rand() % 8);
			n = len;
			break;
		case SHORT:
			memcpy(buf, good, len);
			n = len - 1;
			break;
		default:
			break;
		}
		tally(t, write_all(fd, buf, n), write_errno[kind], "writing a %s stream",
		      kind_name[kind]);
		for (int r = 0; r < retries; r++) {
			tally(leaving, set_state(device, VFIO_DEVICE_STATE_STOP, NULL),
			      leave_errno[kind], "leaving RESUMING with a %s stream",
			      kind_name[kind]);
			if (r % 50 == 49)
				klog_drain();
		}
		tally_state(t, device, VFIO_DEVICE_STATE_RESUMING);
		close(fd);
		klog_drain();
	}
	back_to_running(device);
}

/*
 * Refuses an empty stream when leaving RESUMING until a refusal logs nothing:
 * the rate limit's current interval has then suppressed one, so the first
 * refusal in its next interval logs the suppressed count before the message.
 * Returns how many refusals that took, or 0 if none of @max was suppressed.
 */
static int refuse_until_suppressed(int device, int max, struct tally *t,
				   struct tally *leaving)
{
	int fd, r = 0;
	long before;

	back_to_running(device);
	tally(t, set_state(device, VFIO_DEVICE_STATE_STOP, NULL), 0, "STOP");
	tally(t, set_state(device, VFIO_DEVICE_STATE_RESUMING, &fd), 0, "RESUMING");
	if (fd >= 0) {
		klog_drain();
		/* A line is in /dev/kmsg once the call that printed it returns. */
		do {
			before = klog.of[0];
			tally(leaving, set_state(device, VFIO_DEVICE_STATE_STOP, NULL),
			      leave_errno[NOTHING], "leaving RESUMING with nothing written");
			klog_drain();
		} while (++r < max && klog.of[0] != before);
		if (klog.of[0] != before)
			r = 0;
		tally_state(t, device, VFIO_DEVICE_STATE_RESUMING);
		close(fd);
	}
	back_to_running(device);
	return r;
}

/* Bad VFIO_DEVICE_FEATURE calls, each with its errno; the device stays as it was. */
static void bad_feature_calls(int device, int rounds)
{
	const __u32 pasid_ats = RVFIO_DEVICE_FEATURE_PCI_PASID_ATS;
	const __u32 data_size = VFIO_DEVICE_FEATURE_MIG_DATA_SIZE;
	struct rvfio_device_feature_pci_pasid_ats pasid = { 0 };
	struct vfio_device_feature_mig_data_size size = { 0 };
	const __u32 get = VFIO_DEVICE_FEATURE_GET;
	struct tally t = { 0 };

	back_to_running(device);
	for (int i = 0; i < rounds; i++) {
		tally(&t, set_state(device, 99, NULL), EINVAL, "state 99");
		pasid.flags = 0;
		tally(&t, feature(device, VFIO_DEVICE_FEATURE_SET | pasid_ats, &pasid,
				  sizeof(pasid)), EINVAL, "PASID/ATS SET");
		pasid.flags = 1;
		tally(&t, feature(device, get | pasid_ats, &pasid, sizeof(pasid)), EINVAL,
		      "PASID/ATS GET with flags 1");
		tally(&t, feature(device, get | (RVFIO_DEVICE_FEATURE_BASE + 0xff0), &size,
				  sizeof(size)), ENOTTY, "an unknown feature");
		tally(&t, feature_sized(device, get | data_size, &size, sizeof(size),
					sizeof(struct vfio_device_feature) + 1), EINVAL,
		      "MIG_DATA_SIZE with a short argsz");
		tally(&t, feature(device, get | (1u << 20) | data_size, &size, sizeof(size)),
		      EINVAL, "an unknown flag bit");
		if (i % 50 == 49)
			klog_drain();
	}
	tally_state(&t, device, VFIO_DEVICE_STATE_RUNNING);
	/* An arc the rules refuse: STOP_COPY to PRE_COPY. */
	tally(&t, set_state(device, VFIO_DEVICE_STATE_STOP_COPY, NULL), 0, "STOP_COPY");
	for (int i = 0; i < rounds; i++) {
		tally(&t, set_state(device, VFIO_DEVICE_STATE_PRE_COPY, NULL), EINVAL,
		      "STOP_COPY -> PRE_COPY");
		if (i % 50 == 49)
			klog_drain();
	}
	tally_state(&t, device, VFIO_DEVICE_STATE_STOP_COPY);
	back_to_running(device);
	klog_drain();
	printf("# %ld bad feature calls\n", t.n);
	result("bad_feature_calls_refused", !t.wrong, "%ld wrong; last %s", t.wrong, t.detail);
}

/* Transitions into saving states while a doorbell page is mapped: EBUSY, nothing changes. */
static void busy_transitions(int device, int rounds)
{
	static const __u32 saving[] = { VFIO_DEVICE_STATE_PRE_COPY,
					VFIO_DEVICE_STATE_PRE_COPY_P2P,
					VFIO_DEVICE_STATE_STOP_COPY, 0 };
	struct vfio_region_info bar0 = { .argsz = sizeof(bar0), .index = 0 };
	struct tally t = { 0 };
	void *page;

	back_to_running(device);
	if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar0))
		vfio_cdev_die("VFIO_DEVICE_GET_REGION_INFO");
	page = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, device,
		    bar0.offset + DOORBELL_PAGE);
	if (page == MAP_FAILED)
		vfio_cdev_die("mmap of a doorbell page");
	for (int i = 0; i < rounds; i++) {
		for (const __u32 *s = saving; *s; s++)
			tally(&t, set_state(device, *s, NULL), EBUSY, "state %u", *s);
		if (i % 50 == 49)
			klog_drain();
	}
	tally_state(&t, device, VFIO_DEVICE_STATE_RUNNING);
	munmap(page, PAGE);
	klog_drain();
	printf("# %ld transitions refused with EBUSY\n", t.n);
	result("busy_transitions_refused", !t.wrong, "%ld wrong; last %s", t.wrong, t.detail);
}

int main(int argc, char **argv)
{
	static unsigned char good[STREAM_MAX];
	struct tally streams_t = { 0 }, leaving = { 0 };
	long refusals, before, n[USER_MESSAGES], most[USER_MESSAGES], window[USER_MESSAGES];
	int device, streams, retries, rounds, until_suppressed;
	const struct line *after;
	size_t len;

	if (argc < 2 || argc > 5) {
		fprintf(stderr, "usage: %s IGB_BDF [STREAMS [RETRIES [CALLS]]]\n", argv[0]);
		return 2;
	}
	streams = argc > 2 ? atoi(argv[2]) : 40;
	retries = argc > 3 ? atoi(argv[3]) : 100;
	rounds = argc > 4 ? atoi(argv[4]) : 1000;
	srand(20);

	klog.fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);
	if (klog.fd < 0 || lseek(klog.fd, 0, SEEK_END) < 0)
		vfio_cdev_die("/dev/kmsg");
	device = vfio_open_device(argv[1]);

	len = save_stream(device, good);
	result("saved_stream", len > 52 && !memcmp(good, "RVFIOMIG", 8), "%zu bytes", len);
	if (len <= 52)
		return 1;
	bad_streams(device, 0, streams, retries, good, len, &streams_t, &leaving);
	bad_feature_calls(device, rounds);
	busy_transitions(device, rounds);
	/*
	 * One more bad stream once the rate limit's interval is over: its first
	 * refusal logs again, after the count of those suppressed. That count
	 * comes only if the interval before the pause suppressed one, which
	 * refuse_until_suppressed() makes sure of; the pause, longer than the
	 * interval, is a wait for the kernel's clock, and nothing checked depends
	 * on how long anything else took.
	 */
	until_suppressed = refuse_until_suppressed(device, 1000, &streams_t, &leaving);
	klog_drain();
	before = klog.of[0];
	sleep(INTERVAL_S + 1);
	bad_streams(device, streams, 1, retries, good, len, &streams_t, &leaving);
	close(device);
	refusals = leaving.n;
	printf("# %d bad streams, %ld refusals leaving RESUMING (%d of them until one was suppressed)\n",
	       streams + 1, refusals, until_suppressed);
	result("bad_streams_refused", !streams_t.wrong && !leaving.wrong, "%ld wrong; last %s",
	       streams_t.wrong + leaving.wrong,
	       leaving.wrong ? leaving.detail : streams_t.detail);

	klog_drain();
	for (int m = 0; m < USER_MESSAGES; m++)
		n[m] = intervals(m, &most[m], &window[m]);
	printf("# log: %ld driver lines for %ld refusals that log: %ld '%s' (%ld of them 'callbacks suppressed') in %ld intervals, %ld '%s' in %ld, %ld other; %ld records lost\n",
	       klog.lines, refusals, klog.of[0], user_message[0], klog.suppressed, n[0],
	       klog.of[1], user_message[1], n[1], klog.other, klog.lost);
	printf("# most lines of a message in an interval: %ld and %ld; in any %d s: %ld and %ld\n",
	       most[0], most[1], INTERVAL_S, window[0], window[1]);
	printf("# first line: %s\n", klog.first);
	/*
	 * A load too light to exceed the bound without a rate limit would show
	 * nothing: more refusals than BURST + 1 for each interval the log shows
	 * mean some interval had more, which a driver without a limit would all
	 * have logged in it.
	 */
	result("load_exceeds_bound", refusals > (BURST + 1) * n[0],
	       "%ld refusals that log, %ld intervals of %d lines: raise STREAMS or RETRIES",
	       refusals, n[0], BURST + 1);
	result("log_bounded", most[0] <= BURST + 1 && most[1] <= BURST + 1 && !klog.lost,
	       "at most %ld and %ld lines in an interval, bound %d, %ld records lost",
	       most[0], most[1], BURST + 1, klog.lost);
	/* Nothing else a user does here makes the driver print. */
	result("no_other_lines", !klog.other, "%ld, the first: %s", klog.other,
	       klog.first_other);
	/*
	 * Rate-limited, not removed: after the pause it comes back, the count of
	 * those suppressed before it.
	 */
	after = klog.line[0] + before;
	result("message_kept",
	       until_suppressed && klog.of[0] - before >= 2 && after[0].suppressed &&
	       !after[1].suppressed,
	       "%d refusals until one was suppressed; %ld lines after the pause, the first %s'callbacks suppressed'",
	       until_suppressed, klog.of[0] - before,
	       klog.of[0] > before && after[0].suppressed ? "" : "not ");
	return results_failed ? 1 : 0;
}
