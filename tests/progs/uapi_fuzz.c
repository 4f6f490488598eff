// SPDX-License-Identifier: GPL-2.0
/*
 * uapi_fuzz: random and mutated calls through the whole VFIO uAPI of a device
 * bound to rvfio-pci, checking that every call ends in success or an errno
 * documented for it, and that the device still works afterwards.
 *
 *   uapi_fuzz [--seed N] [--ops N | --unbounded] [--threads N] [--container]
 *             [--diff TWIN_BDF] BDF
 *
 * Categories (Documentation/testing.rst, "uAPI fuzzer"): the ioctl numbers
 * around VFIO_BASE with boundary argsz, region reads and writes (config
 * space, BARs, the v1 migration region), BAR mappings (mmap, munmap whole and
 * partial, mremap, fork), v2 and v1 migration transitions, data fd reads and
 * writes of truncated and mutated streams, VFIO_MIG_GET_PRECOPY_INFO, every
 * device feature, VFIO_DEVICE_RESET, and closing the device while data fds
 * and mappings live.
 *
 * One seed gives one operation sequence: exactly so with one thread; with
 * more, thread i draws from seed + i and only the interleaving differs.
 * --container opens the device through its group in a type1 container
 * rather than its cdev bound to an iommufd: DMA logging is offered then.
 * --diff runs the operations both drivers support on BDF and on TWIN_BDF
 * (bound to vfio-pci) from the same random state and compares the results.
 *
 * Prints "FUZZ <category> ..." lines, the last operations on any failure,
 * and "RESULT uapi_fuzz_<check> PASS|FAIL (detail)"; exits 1 if a check
 * failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>
#include <linux/rvfio.h>

#include "mig_feature.h"
#include "results.h"

#define result(name, pass, ...) result_of("uapi_fuzz", name, pass, __VA_ARGS__)

#define PAGE 4096
#define RING 32
#define MAX_THREADS 8
#define MAX_REGIONS 16
#define MAX_MAPS 8
#define MAX_FDS 4
#define STREAM_MAX 16384
/* A thread's argument area: payloads start here; a PROT_NONE page follows. */
#define AREA (16 * PAGE)
/* Index 0 of the errno counts stands for a SIGBUS on a mapping touch. */
#define ERR_MAX 134
#define ERR_SIGBUS 0
/* Where region @idx starts in the device fd (vfio-pci's encoding, not in the uAPI). */
#define REGION_POS(idx) ((off_t)(idx) << 40)
/* One VFIO_DEVICE_RESET in about this many operations (each costs ~0.1 s). */
#define RESET_EVERY 4000
/* One close and reopen of the device in about this many operations (~0.3 s). */
#define REOPEN_EVERY 30000

enum cat {
	C_IOCTL, C_REGION, C_MMAP, C_MIG_V2, C_MIG_V1, C_DATAFD, C_PRECOPY, C_FEATURE,
	C_RESET, C_REOPEN, C_NR
};

static const char *const cat_name[C_NR] = {
	"ioctl", "region", "mmap", "mig_v2", "mig_v1", "datafd", "precopy_info", "feature",
	"reset", "reopen",
};

/*
 * The stream refusals (migration.rst, "Refusals") come as EINVAL, EBADMSG,
 * EPROTONOSUPPORT, ENODEV, EXDEV, EFBIG, ENODATA.
 *
 * The errnos each category's calls may give, from Documentation/uapi.rst and
 * migration.rst and, for what those leave to upstream, vfio_main.c,
 * device_cdev.c and vfio_pci_core.c / vfio_pci_rdwr.c / vfio_pci_intrs.c of
 * Linux 7.3. Anything else fails the run.
 */
static const int allowed_list[C_NR][20] = {
	/*
	 * Unknown numbers ENOTTY; argsz, flags, indexes EINVAL; bad pointers
	 * EFAULT; SET_IRQS and IOEVENTFD with a bad fd EBADF, IOEVENTFD EEXIST
	 * for a duplicate and ENOSPC past its limit, GET_PCI_HOT_RESET_INFO
	 * ENOSPC for a short array; ATTACH_IOMMUFD_PT ENOENT for an unknown ID;
	 * BIND_IOMMUFD EINVAL once bound; PCI_HOT_RESET EBUSY/EPERM; E2BIG
	 * from copy_struct_from_user() for an argsz past the structure with
	 * nonzero bytes there (BIND, ATTACH, DETACH_IOMMUFD_PT); ERANGE from
	 * SET_IRQS enabling MSI or MSI-X with eventfds, start 0 and count 0:
	 * vfio_msi_enable() asks pci_alloc_irq_vectors() for 1 to 0 vectors.
	 */
	[C_IOCTL] = { EINVAL, ENOTTY, EFAULT, EBADF, ENOENT, ENOSPC, EEXIST, ENODEV, EBUSY,
		      ENOMEM, EPERM, EOPNOTSUPP, E2BIG, ERANGE },
	/* vfio_pci_rw: bad index/offset EINVAL; memory decode off or D3 EIO. */
	[C_REGION] = { EINVAL, EFAULT, EIO, ENOMEM },
	/* mmap EINVAL/EBUSY (migration.rst), mremap EINVAL (move) EFAULT (grow). */
	[C_MMAP] = { EINVAL, EBUSY, ENOMEM, EFAULT, EAGAIN },
	[C_MIG_V2] = { EINVAL, EBADMSG, EPROTONOSUPPORT, ENODEV, EXDEV, EFBIG, ENODATA,
		       EBUSY, EIO, ENOMEM },
	[C_MIG_V1] = { EINVAL, EBADMSG, EPROTONOSUPPORT, ENODEV, EXDEV, EFBIG, ENODATA,
		       EBUSY, EIO, ENOMEM, EFAULT },
	/* write/read on the wrong direction's fd EBADF (its open mode), pread ESPIPE. */
	[C_DATAFD] = { EINVAL, EBADMSG, EPROTONOSUPPORT, ENODEV, EXDEV, EFBIG, ENODATA,
		       ENOMSG, EBADF, ESPIPE, EFAULT, ENOMEM },
	[C_PRECOPY] = { EINVAL, ENOTTY, ENODEV, EFAULT },
	/*
	 * vfio_ioctl_device_feature: EINVAL for argsz/flags, ENOTTY for an
	 * unknown index; the migration features' errnos; LOW_POWER_* EINVAL and
	 * EBADF (wakeup eventfd); DMA_BUF EINVAL/ENODEV/EFAULT/ENOMEM/E2BIG/EOPNOTSUPP;
	 * DMA_LOGGING_* (with --container) E2BIG for too many ranges, EOVERFLOW
	 * for a range that wraps, EBUSY for a mapped doorbell page.
	 */
	[C_FEATURE] = { EINVAL, EBADMSG, EPROTONOSUPPORT, ENODEV, EXDEV, EFBIG, ENODATA,
			ENOTTY, EFAULT, EBUSY, EIO, ENOMEM, EBADF, E2BIG,
			EOPNOTSUPP, EPERM, ENXIO, EOVERFLOW },
	[C_RESET] = { 0 },
	/* BIND_IOMMUFD while a mapping keeps the device open (vfio_df_open). */
	[C_REOPEN] = { EINVAL },
};

static unsigned char allowed[C_NR][ERR_MAX];

/* One operation as the ring keeps it. */
struct op {
	unsigned long seq;
	int cat;
	const char *what;
	unsigned long long a[4];
	long ret;
	int err;
};

struct region {
	__u64 off, size;
	__u32 flags;
};

struct dev {
	const char *bdf;
	int fd;
	int iommufd;		/* with --container, the container */
	int group;		/* with --container, the group; else -1 */
	__u32 ioas;
	int nregions;
	struct region reg[MAX_REGIONS];
	int v1;			/* index of the v1 migration region, or -1 */
};

struct map {
	unsigned char *addr;
	size_t len;
	int bar;
	__u64 boff;		/* offset in the BAR of addr */
};

struct datafd {
	int fd;
	int resuming;
	int variant;		/* what write() sends: see stream_variant() */
	size_t pos, len;
	unsigned char *src;
};

struct thr {
	int idx;
	__u64 prng;
	struct op ring[RING];
	unsigned long seq;
	unsigned long ops;
	struct dev *dev;
	unsigned char *area;	/* AREA bytes, then a PROT_NONE page */
	unsigned char rbuf[STREAM_MAX];
	int efd;
	sigjmp_buf jb;
	int touching;
	unsigned char v1buf[STREAM_MAX];	/* the stream the v1 resume steps write */
	size_t v1pos, v1len;
	pthread_t tid;
};

static struct dev dev_a, dev_b;
static int diff_mode;
static int container_mode;
static __thread struct thr *self;
static struct thr threads[MAX_THREADS];
static int nthreads = 1;
static unsigned long long seed;
static unsigned long ops_per_thread = 20000;
static int unbounded;
static int stop_flag;
static int failures;
static unsigned long disagreements, expected_diffs;

static pthread_rwlock_t dev_lock;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
/*
 * Taken around every mmap() and the mremap() that moves onto a placeholder:
 * a failed move may have unmapped the placeholder, and no other thread's
 * mapping may land there before it is unmapped for good.
 */
static pthread_mutex_t vma_lock = PTHREAD_MUTEX_INITIALIZER;
static struct map maps[MAX_MAPS];
static int nmaps;
static struct datafd fds[MAX_FDS];
static int nfds;

static unsigned long stat_ops[C_NR], stat_ok[C_NR], stat_err[C_NR][ERR_MAX];
/* Successful VFIO_DEVICE_FEATURE calls by index: 0-16, then ours. */
#define FEATURES 18
static unsigned long feature_ok[FEATURES];
/* v2 transitions tried and done, by current and asked-for state (1-7). */
static unsigned long arc_tried[8][8], arc_done[8][8];

static unsigned char saved[STREAM_MAX];
static size_t saved_len;

/* splitmix64: small, seedable, and each thread has its own state. */
static __u64 rnd64(struct thr *t)
{
	__u64 z = (t->prng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u32 rnd(struct thr *t, __u32 n)
{
	return n ? rnd64(t) % n : 0;
}

static void rnd_fill(struct thr *t, void *p, size_t n)
{
	unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = rnd64(t);
}

static const char *err_name(int err)
{
	const char *name;

	if (err == ERR_SIGBUS)
		return "SIGBUS";
	name = strerrorname_np(err);
	return name ? name : "E?";
}

/* Prints @t's last operations, oldest first, with the failure's reason. */
static void print_ring(struct thr *t, const char *why, int in_signal)
{
	/* A signal handler may have interrupted a print: never wait for it. */
	if (in_signal ? pthread_mutex_trylock(&print_lock) : pthread_mutex_lock(&print_lock))
		return;
	printf("FUZZ FAIL thread %d op %lu: %s\n", t->idx, t->seq, why);
	printf("FUZZ ring (seed %llu, thread %d seeded %llu), oldest first:\n", seed, t->idx,
	       seed + t->idx);
	for (unsigned long s = t->seq > RING ? t->seq - RING + 1 : 1; s <= t->seq; s++) {
		struct op *o = &t->ring[s % RING];

		printf("FUZZ ring #%lu %s %s %#llx %#llx %#llx %#llx -> %ld %s\n", o->seq,
		       cat_name[o->cat], o->what, o->a[0], o->a[1], o->a[2], o->a[3], o->ret,
		       o->err ? err_name(o->err) : "");
	}
	fflush(stdout);
	pthread_mutex_unlock(&print_lock);
}

static void fail(struct thr *t, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 10)
		print_ring(t, why, 0);
}

/* A signal that is not an expected SIGBUS on a mapping: show how we got here. */
static void on_signal(int sig)
{
	if (self && self->touching && sig == SIGBUS)
		siglongjmp(self->jb, 1);
	if (self)
		print_ring(self, strsignal(sig), 1);
	_exit(3);
}

static void on_stop(int sig)
{
	(void)sig;
	__atomic_store_n(&stop_flag, 1, __ATOMIC_RELAXED);
}

static struct op *begin(struct thr *t, int cat, const char *what, unsigned long long a0,
			unsigned long long a1, unsigned long long a2, unsigned long long a3)
{
	struct op *o = &t->ring[++t->seq % RING];

	*o = (struct op){ .seq = t->seq, .cat = cat, .what = what, .a = { a0, a1, a2, a3 } };
	return o;
}

/* Records the result of @t's current operation; @err 0 for success. */
static void end(struct thr *t, long ret, int err)
{
	struct op *o = &t->ring[t->seq % RING];

	o->ret = ret;
	o->err = err;
	__atomic_fetch_add(&stat_ops[o->cat], 1, __ATOMIC_RELAXED);
	if (!err && ret >= 0) {
		__atomic_fetch_add(&stat_ok[o->cat], 1, __ATOMIC_RELAXED);
		return;
	}
	if (err < 0 || err >= ERR_MAX)
		err = ERR_MAX - 1;
	__atomic_fetch_add(&stat_err[o->cat][err], 1, __ATOMIC_RELAXED);
	if (err != ERR_SIGBUS && !allowed[o->cat][err])
		fail(t, "%s %s: unexpected %s", cat_name[o->cat], o->what, err_name(err));
}

/* end() for a call that returns -1 and sets errno on failure. */
static void end_sys(struct thr *t, long ret)
{
	end(t, ret, ret < 0 ? errno : 0);
}

/* --- the device ------------------------------------------------------------ */

/*
 * Opens @d through its group in a type1 container, with 1 MiB of memory
 * mapped at IOVA 0 (what DMA logging's reports may read); 0 or errno. The
 * group path lets a device be opened again while a mapping keeps it open.
 */
static int dev_open_container(struct dev *d)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .size = 1 << 20,
		.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
	};
	char link[256], path[300];
	ssize_t n;
	void *mem;

	if (d->group < 0) {
		snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/iommu_group", d->bdf);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			return errno;
		link[n] = 0;
		snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(link, '/') + 1);
		d->iommufd = open("/dev/vfio/vfio", O_RDWR);
		d->group = open(path, O_RDWR);
		if (d->iommufd < 0 || d->group < 0)
			return errno;
		if (ioctl(d->group, VFIO_GROUP_SET_CONTAINER, &d->iommufd) ||
		    ioctl(d->iommufd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
			return errno;
		mem = mmap(NULL, map.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			   -1, 0);
		map.vaddr = (uintptr_t)mem;
		if (mem == MAP_FAILED || ioctl(d->iommufd, VFIO_IOMMU_MAP_DMA, &map))
			return errno;
	}
	d->fd = ioctl(d->group, VFIO_GROUP_GET_DEVICE_FD, d->bdf);
	return d->fd < 0 ? errno : 0;
}

/* Opens @d's cdev, binds it to a new iommufd, attaches an empty IOAS; 0 or errno. */
static int dev_open(struct dev *d)
{
	struct vfio_cdev cdev;
	const char *what;
	int err;

	if (container_mode)
		return dev_open_container(d);
	err = vfio_cdev_try_open(d->bdf, &cdev, &what);
	d->fd = cdev.device;
	d->iommufd = cdev.iommufd;
	d->ioas = cdev.ioas;
	return err;
}

/* The regions and the v1 migration region's index, from GET_REGION_INFO. */
static void dev_regions(struct dev *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };
	unsigned char buf[4096];
	struct vfio_region_info *r = (void *)buf;

	d->v1 = -1;
	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info))
		vfio_cdev_die("VFIO_DEVICE_GET_INFO");
	d->nregions = info.num_regions < MAX_REGIONS ? info.num_regions : MAX_REGIONS;
	for (int i = 0; i < d->nregions; i++) {
		memset(buf, 0, sizeof(buf));
		r->argsz = sizeof(buf);
		r->index = i;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, r)) {
			d->reg[i] = (struct region){ 0 };
			continue;
		}
		d->reg[i] = (struct region){ r->offset, r->size, r->flags };
		for (__u32 off = (r->flags & VFIO_REGION_INFO_FLAG_CAPS) ? r->cap_offset : 0;
		     off && off + sizeof(struct vfio_region_info_cap_type) <= sizeof(buf);) {
			struct vfio_region_info_cap_type *c = (void *)(buf + off);

			if (c->header.id == VFIO_REGION_INFO_CAP_TYPE &&
			    c->type == VFIO_REGION_TYPE_MIGRATION_DEPRECATED &&
			    c->subtype == VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED)
				d->v1 = i;
			off = c->header.next;
		}
	}
}

static int is_bar0(struct dev *d, int idx)
{
	return idx == VFIO_PCI_BAR0_REGION_INDEX && d->reg[idx].size;
}

/* --- data fds and mappings shared by the threads ---------------------------- */

static void pool_put(struct datafd *f)
{
	pthread_mutex_lock(&pool_lock);
	if (nfds == MAX_FDS) {
		close(fds[0].fd);
		free(fds[0].src);
		fds[0] = fds[--nfds];
	}
	fds[nfds++] = *f;
	pthread_mutex_unlock(&pool_lock);
}

static int pool_take(struct thr *t, struct datafd *f)
{
	int ok = 0;

	pthread_mutex_lock(&pool_lock);
	if (nfds) {
		int i = rnd(t, nfds);

		*f = fds[i];
		fds[i] = fds[--nfds];
		ok = 1;
	}
	pthread_mutex_unlock(&pool_lock);
	return ok;
}

static void add_fd(int fd, int resuming)
{
	struct datafd f = { .fd = fd, .resuming = resuming, .variant = -1 };

	if (fd >= 0)
		pool_put(&f);
}

static void maps_put(struct map *m)
{
	pthread_mutex_lock(&pool_lock);
	if (nmaps < MAX_MAPS)
		maps[nmaps++] = *m;
	else
		munmap(m->addr, m->len);
	pthread_mutex_unlock(&pool_lock);
}

static int maps_take(struct thr *t, struct map *m)
{
	int ok = 0;

	pthread_mutex_lock(&pool_lock);
	if (nmaps) {
		int i = rnd(t, nmaps);

		*m = maps[i];
		maps[i] = maps[--nmaps];
		ok = 1;
	}
	pthread_mutex_unlock(&pool_lock);
	return ok;
}

static void drop_all(void)
{
	pthread_mutex_lock(&pool_lock);
	while (nmaps) {
		nmaps--;
		munmap(maps[nmaps].addr, maps[nmaps].len);
	}
	while (nfds) {
		nfds--;
		close(fds[nfds].fd);
		free(fds[nfds].src);
	}
	pthread_mutex_unlock(&pool_lock);
}

/* --- streams --------------------------------------------------------------- */

static __u32 crc32(const unsigned char *p, size_t n)
{
	__u32 crc = ~0u;

	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
	}
	return ~crc;
}

/* Fixes the CRC of a one-record stream of @len bytes so the checks behind it run. */
static void fix_crc(unsigned char *s, size_t len)
{
	__u32 crc;

	if (len < 52)
		return;
	crc = crc32(s, len - 4);
	memcpy(s + len - 4, &crc, 4);
}

/*
 * A stream to write to a resuming session, from the one saved at the start:
 * 0 valid (rare: leaving RESUMING then loads it, ~0.5 s), 1 truncated,
 * 2 bits flipped, 3 random bytes, 4 a header byte changed and the CRC fixed
 * (refused by content), 5 a payload byte changed and the CRC fixed (rare: it
 * may load), 6 valid then trailing bytes, 7 record size 1 MiB with the CRC
 * fixed (EFBIG).
 */
static size_t stream_variant(struct thr *t, unsigned char *s, int *variant)
{
	size_t len = saved_len;
	__u32 big = 1 << 20;
	int v = rnd(t, 8);

	if ((v == 0 || v == 5) && rnd(t, 32))
		v = 2;
	*variant = v;
	memcpy(s, saved, len);
	switch (v) {
	case 1:
		len = rnd(t, len);
		break;
	case 2:
		for (int i = 1 + rnd(t, 4); i; i--)
			s[rnd(t, len)] ^= 1 << rnd(t, 8);
		break;
	case 3:
		len = 1 + rnd(t, STREAM_MAX - 1);
		rnd_fill(t, s, len);
		break;
	case 4:
		s[rnd(t, 48)] ^= 1 + rnd(t, 255);
		fix_crc(s, len);
		break;
	case 5:
		s[48 + rnd(t, len - 52)] ^= 1 + rnd(t, 255);
		fix_crc(s, len);
		break;
	case 6:
		rnd_fill(t, s + len, 64);
		len += 1 + rnd(t, 64);
		break;
	case 7:
		memcpy(s + 40, &big, 4);
		fix_crc(s, len);
		break;
	}
	return len;
}

/* --- argument area --------------------------------------------------------- */

/* argsz to pass for a structure of @size: boundaries and random values. */
static __u32 pick_argsz(struct thr *t, __u32 size)
{
	switch (rnd(t, 12)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return size - 1;
	case 3:
		return size + 1 + rnd(t, 64);
	case 4:
		return 0xffffffff;
	case 5:
		return rnd(t, AREA + 2 * PAGE);
	default:
		return size;
	}
}

/*
 * Where an argument of @size bytes goes: the start of the area, its end
 * (so that reading past @size faults), or a bad pointer.
 */
static void *pick_ptr(struct thr *t, size_t size)
{
	switch (rnd(t, 24)) {
	case 0:
		return NULL;
	case 1:
		return (void *)(uintptr_t)(1 + rnd(t, PAGE));
	case 2:
		return t->area + AREA;
	case 3:
	case 4:
		return t->area + AREA - (size < AREA ? size : AREA);
	default:
		return t->area;
	}
}

/* --- categories ------------------------------------------------------------ */

static void op_feature(struct thr *t, struct dev *d);

/* The size upstream's handler checks argsz against, for an ioctl number. */
static __u32 ioctl_minsz(unsigned int nr)
{
	switch (nr - VFIO_BASE) {
	case 7:
		return sizeof(struct vfio_device_info);
	case 8:
		return sizeof(struct vfio_region_info);
	case 9:
		return sizeof(struct vfio_irq_info);
	case 10:
		return sizeof(struct vfio_irq_set);
	case 12:
		return sizeof(struct vfio_pci_hot_reset_info);
	case 13:
		return sizeof(struct vfio_pci_hot_reset);
	case 16:
		return sizeof(struct vfio_device_ioeventfd);
	case 18:
		return sizeof(struct vfio_device_bind_iommufd);
	case 19:
		return sizeof(struct vfio_device_attach_iommufd_pt);
	case 20:
		return sizeof(struct vfio_device_detach_iommufd_pt);
	default:
		return 16;
	}
}

/* Any ioctl number around VFIO_BASE, with a random or half-sensible argument. */
static void op_ioctl(struct thr *t, struct dev *d)
{
	unsigned int nr = rnd(t, 8) ? VFIO_BASE + rnd(t, 26) : rnd(t, 256);
	unsigned long cmd;
	__u32 *w = (__u32 *)t->area, minsz;
	void *arg;
	long ret;

	/* Resets have their own category: each costs ~0.1 s. */
	if (nr == VFIO_BASE + 11)
		nr = VFIO_BASE + 7;
	if (nr == VFIO_BASE + 17) {
		op_feature(t, d);
		return;
	}
	if (!rnd(t, 16))
		cmd = _IOC(rnd(t, 4), VFIO_TYPE, nr, rnd(t, 0x4000));
	else
		cmd = _IO(VFIO_TYPE, nr);
	minsz = ioctl_minsz(nr);
	rnd_fill(t, t->area, 256);
	if (rnd(t, 2))
		memset(t->area + 4, 0, 252 - rnd(t, 252));
	w[0] = pick_argsz(t, minsz);
	switch (nr - VFIO_BASE) {
	case 8:		/* region index: mostly real ones */
	case 9:		/* irq index */
		if (rnd(t, 4))
			w[2] = rnd(t, 12);
		break;
	case 10:	/* SET_IRQS: index, start, count small; our eventfd as data */
		w[1] &= rnd(t, 2) ? 0x3f : ~0u;
		w[2] = rnd(t, 6);
		w[3] = rnd(t, 4);
		w[4] = rnd(t, 4);
		if (rnd(t, 2))
			w[5] = w[6] = t->efd;
		break;
	case 13:	/* a real bus reset costs a second: only with flags 0 rarely */
		if (rnd(t, 16))
			w[1] |= 1;
		break;
	case 16:	/* IOEVENTFD: a size, a BAR offset, our eventfd */
		if (rnd(t, 2)) {
			w[1] = 1 << rnd(t, 4);
			w[2] = rnd(t, 0x20000);
			w[3] = rnd(t, 6) << 8;	/* the region index, bits 40 up */
			w[6] = t->efd;
		}
		break;
	case 18:
		w[2] = rnd(t, 2) ? (__u32)d->iommufd : rnd(t, 64);
		break;
	case 19:
		w[2] = rnd(t, 2) ? d->ioas : rnd(t, 8);
		break;
	}
	arg = pick_ptr(t, minsz);
	if (arg == t->area + AREA - minsz)
		memmove(arg, t->area, minsz);
	/* flags and, for the info ioctls, the index in the third argument */
	begin(t, C_IOCTL, "ioctl", cmd, w[0], w[1] | (__u64)w[2] << 32, (uintptr_t)arg);
	ret = ioctl(d->fd, cmd, arg);
	end_sys(t, ret);
}

/* A read or write at a random place of a region (config, BARs, ROM, v1 region). */
static void op_region(struct thr *t, struct dev *d)
{
	static const size_t sizes[] = { 1, 2, 4, 8, 3, 16, 64 };
	/* In differential mode both devices draw from the regions they share. */
	int nreg = diff_mode ? dev_b.nregions : d->nregions;
	int idx = rnd(t, 16) ? rnd(t, nreg) : rnd(t, 16);
	int cat = idx == d->v1 ? C_MIG_V1 : C_REGION;
	__u64 rsize = idx < d->nregions ? d->reg[idx].size : 0;
	size_t len = rnd(t, 4) ? sizes[rnd(t, 7)] : 1 + rnd(t, 4096);
	__u64 off = rnd(t, (rsize ? rsize : PAGE) + 64);
	int write = !rnd(t, 3);
	off_t pos;
	long ret;

	if (rnd(t, 2))
		off &= ~(__u64)(len - 1 < 8 ? len - 1 : 3);
	/* CTRL (reset bits) and STATUS of the igb stay untouched. */
	if (write && is_bar0(d, idx) && off < 8)
		off += 8;
	pos = REGION_POS(idx) + off;
	if (write) {
		rnd_fill(t, t->rbuf, len);
		begin(t, cat, "pwrite", idx, off, len, *(__u32 *)t->rbuf);
		ret = pwrite(d->fd, t->rbuf, len, pos);
	} else {
		begin(t, cat, "pread", idx, off, len, 0);
		ret = pread(d->fd, t->rbuf, len, pos);
	}
	end_sys(t, ret);
}

/* Reads (or writes) a word of a mapping; a SIGBUS is an answer (memory off, D3). */
static int touch(struct thr *t, struct map *m, size_t at, int write)
{
	int bus = 0;

	if (write && !m->bar && m->boff + at < 8)
		write = 0;
	t->touching = 1;
	/* Atomic accesses: one 4-byte access each, never optimised away. */
	if (sigsetjmp(t->jb, 1))
		bus = 1;
	else if (write)
		__atomic_store_n((__u32 *)(m->addr + at), (__u32)rnd64(t), __ATOMIC_RELAXED);
	else
		__atomic_load_n((__u32 *)(m->addr + at), __ATOMIC_RELAXED);
	t->touching = 0;
	return bus;
}

/* The fork child: touches every mapping it inherited, unmaps half, exits. */
static void child_touch(struct thr *t, struct map *m, int n)
{
	for (int i = 0; i < n; i++) {
		touch(t, &m[i], rnd(t, m[i].len / 4) * 4, 0);
		if (i % 2)
			munmap(m[i].addr, m[i].len);
	}
	_exit(0);
}

static void op_mmap(struct thr *t, struct dev *d)
{
	int choice = rnd(t, 16), idx, status, n;
	struct map m, copy[MAX_MAPS];
	__u64 pages, off;
	void *p, *q;
	pid_t pid;
	size_t at;

	if (choice < 5) {
		/* a new mapping, mostly of a mmap-able BAR */
		idx = rnd(t, VFIO_PCI_ROM_REGION_INDEX + 1);
		pages = d->reg[idx].size / PAGE;
		off = rnd(t, 8) ? rnd(t, pages + 1) * PAGE : rnd64(t) & 0xffffff;
		m.len = (1 + rnd(t, pages ? pages : 1)) * PAGE;
		m.bar = idx;
		m.boff = off;
		begin(t, C_MMAP, "mmap", idx, off, m.len, 0);
		pthread_mutex_lock(&vma_lock);
		p = mmap(NULL, m.len, PROT_READ | PROT_WRITE, rnd(t, 16) ? MAP_SHARED : MAP_PRIVATE,
			 d->fd, REGION_POS(idx) + off);
		pthread_mutex_unlock(&vma_lock);
		end(t, p == MAP_FAILED ? -1 : 0, p == MAP_FAILED ? errno : 0);
		if (p != MAP_FAILED) {
			m.addr = p;
			maps_put(&m);
		}
		return;
	}
	if (choice == 15) {
		/* fork while mappings live: the child touches and unmaps them */
		pthread_mutex_lock(&pool_lock);
		n = nmaps;
		memcpy(copy, maps, sizeof(copy));
		begin(t, C_MMAP, "fork", n, 0, 0, 0);
		pid = fork();
		if (!pid)
			child_touch(t, copy, n);
		pthread_mutex_unlock(&pool_lock);
		if (pid < 0) {
			end_sys(t, -1);
			return;
		}
		waitpid(pid, &status, 0);
		end(t, status, 0);
		if (status)
			fail(t, "fork child ended with status %#x", status);
		return;
	}
	if (!maps_take(t, &m))
		return;
	at = rnd(t, m.len / 4) * 4;
	switch (choice) {
	case 5 ... 9:
		begin(t, C_MMAP, "touch", m.bar, m.boff + at, 0, 0);
		end(t, 0, touch(t, &m, at, !rnd(t, 4)) ? ERR_SIGBUS : 0);
		break;
	case 10:
		begin(t, C_MMAP, "munmap", m.bar, m.boff, m.len, 0);
		end_sys(t, munmap(m.addr, m.len));
		return;
	case 11:
		/* one page of it: the first, the last or one in the middle */
		at = rnd(t, m.len / PAGE) * PAGE;
		begin(t, C_MMAP, "munmap_part", m.bar, m.boff + at, PAGE, m.len);
		end_sys(t, munmap(m.addr + at, PAGE));
		if (at + PAGE < m.len) {
			struct map tail = { m.addr + at + PAGE, m.len - at - PAGE, m.bar,
					    m.boff + at + PAGE };

			maps_put(&tail);
		}
		m.len = at;
		if (!m.len)
			return;
		break;
	case 12:
		/* moving is refused (migration.rst) */
		pthread_mutex_lock(&vma_lock);
		p = mmap(NULL, m.len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		begin(t, C_MMAP, "mremap_move", m.bar, m.boff, m.len, 0);
		q = mremap(m.addr, m.len, m.len, MREMAP_MAYMOVE | MREMAP_FIXED, p);
		end(t, q == MAP_FAILED ? -1 : 0, q == MAP_FAILED ? errno : 0);
		if (q != MAP_FAILED) {
			fail(t, "mremap moved a BAR mapping");
			m.addr = q;
		} else if (p != MAP_FAILED) {
			munmap(p, m.len);
		}
		pthread_mutex_unlock(&vma_lock);
		break;
	case 13:
		/* growing is refused (VM_DONTEXPAND) */
		begin(t, C_MMAP, "mremap_grow", m.bar, m.boff, m.len, 0);
		p = mremap(m.addr, m.len, m.len + PAGE, MREMAP_MAYMOVE);
		end(t, p == MAP_FAILED ? -1 : 0, p == MAP_FAILED ? errno : 0);
		if (p != MAP_FAILED)
			fail(t, "mremap grew a BAR mapping");
		break;
	case 14:
		if (m.len > PAGE) {
			begin(t, C_MMAP, "mremap_shrink", m.bar, m.boff, m.len, m.len - PAGE);
			p = mremap(m.addr, m.len, m.len - PAGE, 0);
			end(t, p == MAP_FAILED ? -1 : 0, p == MAP_FAILED ? errno : 0);
			if (p != MAP_FAILED)
				m.len -= PAGE;
		}
		break;
	}
	maps_put(&m);
}

/*
 * v2 transitions to any state (and the ones that do not exist), the state,
 * the size; a transition to @to if not 0 (a state with a session).
 */
static void op_mig_v2(struct thr *t, struct dev *d, __u32 to_session)
{
	struct vfio_device_feature_mig_data_size size = { 0 };
	struct vfio_device_feature_mig_state state = { 0 };
	__u32 to = rnd(t, 8) ? 1 + rnd(t, 7) : rnd(t, 16), from;
	int fd, ret;

	switch (to_session ? 7 : rnd(t, 8)) {
	case 0:
		begin(t, C_MIG_V2, "get_state", 0, 0, 0, 0);
		ret = feature(d->fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			      &state, sizeof(state));
		end(t, ret ? -1 : (long)state.device_state, ret);
		return;
	case 1:
		begin(t, C_MIG_V2, "data_size", 0, 0, 0, 0);
		ret = feature(d->fd, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			      &size, sizeof(size));
		end(t, ret ? -1 : 0, ret);
		return;
	}
	if (to_session)
		to = to_session;
	from = get_state(d->fd);
	begin(t, C_MIG_V2, "set_state", to, from, 0, 0);
	ret = set_state(d->fd, to, &fd);
	t->ring[t->seq % RING].a[2] = fd;
	end(t, ret ? -1 : 0, ret);
	if (from >= 1 && from <= 7 && to >= 1 && to <= 7) {
		__atomic_fetch_add(&arc_tried[from][to], 1, __ATOMIC_RELAXED);
		if (!ret)
			__atomic_fetch_add(&arc_done[from][to], 1, __ATOMIC_RELAXED);
	}
	add_fd(fd, to == VFIO_DEVICE_STATE_RESUMING);
}

/* The v1 region: device_state values, header fields, the save and resume steps. */
static void op_mig_v1(struct thr *t, struct dev *d)
{
	static const __u32 states[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 0x10 };
	static const __u32 fields[] = { 0, 4, 8, 16, 24, 4096, 8188, 8192 };
	__u64 base, v = 0, pending = 0, doff = 0, dsize = 0;
	long ret;

	if (d->v1 < 0)
		return;
	base = d->reg[d->v1].off;
	switch (rnd(t, 6)) {
	case 0:
	case 1:
		v = rnd(t, 8) ? states[rnd(t, 14)] : rnd64(t);
		begin(t, C_MIG_V1, "device_state", v, 0, 0, 0);
		ret = pwrite(d->fd, &v, 4, base);
		end_sys(t, ret);
		t->v1pos = 0;
		break;
	case 2:
		v = fields[rnd(t, 8)];
		dsize = rnd(t, 3) ? 4U << rnd(t, 2) : 1 + rnd(t, 16);
		begin(t, C_MIG_V1, "read_field", v, dsize, 0, 0);
		ret = pread(d->fd, t->rbuf, dsize, base + v);
		end_sys(t, ret);
		break;
	case 3:
		/* the save protocol's steps, in order */
		begin(t, C_MIG_V1, "save_step", 0, 0, 0, 0);
		ret = pread(d->fd, &pending, 8, base + 8);
		if (ret == 8)
			ret = pread(d->fd, &doff, 8, base + 16);
		if (ret == 8)
			ret = pread(d->fd, &dsize, 8, base + 24);
		if (ret == 8 && dsize && dsize <= 4096)
			ret = pread(d->fd, t->rbuf, dsize, base + doff);
		t->ring[t->seq % RING].a[1] = pending;
		t->ring[t->seq % RING].a[2] = dsize;
		end_sys(t, ret);
		break;
	default:
		/* the resume protocol: the next piece of a (mutated) stream */
		if (!t->v1pos) {
			int variant;

			t->v1len = stream_variant(t, t->v1buf, &variant);
		}
		dsize = rnd(t, 8) ? 1 + rnd(t, 4096) : rnd64(t);
		begin(t, C_MIG_V1, "resume_step", t->v1pos, dsize, t->v1len, 0);
		ret = pread(d->fd, &doff, 8, base + 16);
		if (ret == 8 && dsize <= 4096 && t->v1pos + dsize <= STREAM_MAX)
			ret = pwrite(d->fd, t->v1buf + t->v1pos, dsize, base + doff);
		if (ret >= 0)
			ret = pwrite(d->fd, &dsize, 8, base + 24);
		end_sys(t, ret);
		if (ret >= 0)
			t->v1pos += dsize;
		break;
	}
}

static void op_precopy(struct thr *t, int fd)
{
	struct vfio_precopy_info *info = (void *)t->area;
	void *arg;
	long ret;

	rnd_fill(t, info, sizeof(*info));
	info->argsz = pick_argsz(t, sizeof(*info));
	if (rnd(t, 2))
		info->flags = 0;
	arg = pick_ptr(t, sizeof(*info));
	if (arg == t->area + AREA - sizeof(*info))
		memmove(arg, info, sizeof(*info));
	begin(t, C_PRECOPY, "precopy_info", fd, info->argsz, info->flags, (uintptr_t)arg);
	ret = ioctl(fd, VFIO_MIG_GET_PRECOPY_INFO, arg);
	end_sys(t, ret);
}

/* The states with a data fd; resuming twice as often, as it takes the mutated streams. */
static const __u32 sessions[] = {
	VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_RESUMING, VFIO_DEVICE_STATE_PRE_COPY,
	VFIO_DEVICE_STATE_STOP_COPY,
};

/*
 * Reads, writes of (mutated) streams, PRECOPY_INFO, close, on an open data
 * fd; without one, a transition that opens one.
 */
static void op_datafd(struct thr *t)
{
	struct datafd f;
	size_t len;
	long ret;
	__u32 r;

	if (!pool_take(t, &f)) {
		op_mig_v2(t, &dev_a, sessions[rnd(t, 4)]);
		return;
	}
	r = rnd(t, 40) % 10;
	/* Mostly the fd's own direction; one time in 8 the other (EBADF). */
	if (r < 6)
		r = !f.resuming == !!rnd(t, 8) ? 0 : 3;
	switch (r) {
	case 0 ... 2:
		len = rnd(t, 4) ? 1 + rnd(t, 8192) : 0;
		begin(t, C_DATAFD, "read", f.fd, len, f.resuming, 0);
		ret = read(f.fd, t->rbuf, len);
		end_sys(t, ret);
		break;
	case 3 ... 5:
		if (f.variant < 0) {
			f.src = malloc(STREAM_MAX);
			if (!f.src)
				vfio_cdev_die("malloc");
			f.len = stream_variant(t, f.src, &f.variant);
		}
		len = f.pos < f.len ? 1 + rnd(t, f.len - f.pos) : rnd(t, 64);
		if (f.pos + len > STREAM_MAX)
			len = STREAM_MAX - f.pos;
		begin(t, C_DATAFD, "write", f.fd, f.pos, len, f.variant);
		ret = write(f.fd, f.src + f.pos, len);
		end_sys(t, ret);
		if (ret > 0)
			f.pos += ret;
		break;
	case 6 ... 7:
		op_precopy(t, f.fd);
		break;
	case 8:
		begin(t, C_DATAFD, "pread", f.fd, 0, 0, 0);
		ret = pread(f.fd, t->rbuf, 16, 0);
		end_sys(t, ret);
		break;
	case 9:
		/* one time in 40: the others keep the session for more calls */
		if (rnd(t, 4))
			break;
		close(f.fd);
		free(f.src);
		return;
	}
	pool_put(&f);
}

/* The natural payload size of a feature index, for argsz around it. */
static __u32 feature_size(__u32 index)
{
	switch (index) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
		return sizeof(struct vfio_device_feature_migration);
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return sizeof(struct vfio_device_feature_mig_state);
	case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP:
		return sizeof(struct vfio_device_low_power_entry_with_wakeup);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		return sizeof(struct vfio_device_feature_dma_logging_control);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return sizeof(struct vfio_device_feature_dma_logging_report);
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
		return sizeof(struct vfio_device_feature_mig_data_size);
	case VFIO_DEVICE_FEATURE_BUS_MASTER:
		return sizeof(struct vfio_device_feature_bus_master);
	case VFIO_DEVICE_FEATURE_DMA_BUF:
		return sizeof(struct vfio_device_feature_dma_buf) +
		       sizeof(struct vfio_region_dma_range);
	case RVFIO_DEVICE_FEATURE_PCI_PASID_ATS:
		return RVFIO_PCI_PASID_ATS_MAX_SIZE;
	default:
		return 8;
	}
}

/*
 * The features only rvfio-pci has, the migration ones and ours: differential
 * mode does not compare them. (vfio-pci answers MIG_PRECOPY_INFOv2 with
 * EINVAL, the others with ENOTTY.)
 */
static int rvfio_only_feature(__u32 index)
{
	return index == VFIO_DEVICE_FEATURE_MIGRATION ||
	       index == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE ||
	       index == VFIO_DEVICE_FEATURE_MIG_DATA_SIZE ||
	       index == VFIO_DEVICE_FEATURE_MIG_PRECOPY_INFOv2 ||
	       (index >= RVFIO_DEVICE_FEATURE_BASE && index <= VFIO_DEVICE_FEATURE_MASK);
}

/* VFIO_DEVICE_FEATURE: every index 0-16 and ours, any flags, boundary argsz. */
static void op_feature(struct thr *t, struct dev *d)
{
	static const __u32 dirs[] = {
		VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_SET, VFIO_DEVICE_FEATURE_PROBE,
		VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET,
		VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET,
		VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET, 0,
	};
	struct vfio_device_feature *f = (void *)t->area;
	__u64 *p = (__u64 *)f->data;
	__u32 index, size;
	void *arg;
	long ret;

	switch (rnd(t, 16)) {
	case 0:
		index = RVFIO_DEVICE_FEATURE_PCI_PASID_ATS + rnd(t, 2);
		break;
	case 1:
		index = rnd(t, VFIO_DEVICE_FEATURE_MASK + 1);
		break;
	default:
		index = rnd(t, 17);
	}
	if (diff_mode)
		while (rvfio_only_feature(index))
			index = rnd(t, 17);
	size = feature_size(index);
	rnd_fill(t, f, 64);
	if (rnd(t, 2))
		memset(f->data, 0, 56);
	f->flags = index | dirs[rnd(t, 7)];
	if (!rnd(t, 16))
		f->flags |= 1U << (16 + rnd(t, 16));
	f->argsz = pick_argsz(t, sizeof(*f) + size);
	switch (index) {
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		p[0] = rnd(t, 9);
		break;
	case VFIO_DEVICE_FEATURE_LOW_POWER_ENTRY_WITH_WAKEUP:
		if (rnd(t, 2))
			p[0] = t->efd;
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		p[0] = rnd(t, 2) ? 1ULL << rnd(t, 40) : rnd64(t);
		p[1] = rnd(t, 6);
		p[2] = rnd(t, 8) ? (uintptr_t)(t->area + PAGE) : rnd64(t);
		rnd_fill(t, t->area + PAGE, 96);
		/* half the time ranges the core takes: page-aligned, apart */
		if (rnd(t, 2))
			for (int i = 0; i < 6; i++) {
				p = (__u64 *)(t->area + PAGE) + 2 * i;
				p[0] = (__u64)(i * 64 + rnd(t, 32)) * PAGE;
				p[1] = (__u64)(1 + rnd(t, 16)) * PAGE;
			}
		p = (__u64 *)f->data;
		break;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		p[0] = rnd(t, 256) * PAGE;
		p[1] = rnd(t, 64) * PAGE;
		p[2] = PAGE << rnd(t, 3);
		p[3] = rnd(t, 8) ? (uintptr_t)(t->area + PAGE) : rnd64(t);
		break;
	case VFIO_DEVICE_FEATURE_BUS_MASTER:
		p[0] = rnd(t, 3);
		break;
	}
	arg = pick_ptr(t, sizeof(*f) + size);
	if (arg == t->area + AREA - sizeof(*f) - size)
		memmove(arg, f, sizeof(*f) + size);
	begin(t, C_FEATURE, "feature", f->flags, f->argsz, p[0], (uintptr_t)arg);
	ret = ioctl(d->fd, VFIO_DEVICE_FEATURE, arg);
	end_sys(t, ret);
	if (ret >= 0)
		__atomic_fetch_add(&feature_ok[index < 17 ? index : 17], 1, __ATOMIC_RELAXED);
	if (ret > 0)
		close(ret);	/* DMA_BUF answers with a dma-buf fd */
	if (!ret && !diff_mode && arg == t->area && index == VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE &&
	    (f->flags & VFIO_DEVICE_FEATURE_SET) && !(f->flags & VFIO_DEVICE_FEATURE_PROBE))
		add_fd(((struct vfio_device_feature_mig_state *)f->data)->data_fd,
		       p[0] == VFIO_DEVICE_STATE_RESUMING);
}

static void op_reset(struct thr *t, struct dev *d)
{
	begin(t, C_RESET, "reset", 0, 0, 0, 0);
	end_sys(t, ioctl(d->fd, VFIO_DEVICE_RESET));
}

/*
 * Closes the device with data fds and mappings alive: they must stay usable
 * (a mapping keeps the device open, so binding its cdev again fails with
 * EINVAL; through a group it opens again), then drops them and opens the
 * device again, which must work.
 */
static void op_reopen(struct thr *t, struct dev *d)
{
	struct datafd f;
	struct map m;
	int err, have;

	pthread_rwlock_unlock(&dev_lock);
	pthread_rwlock_wrlock(&dev_lock);
	begin(t, C_REOPEN, "close", d->fd, nmaps, nfds, 0);
	close(d->fd);
	if (!container_mode)
		close(d->iommufd);
	end(t, 0, 0);
	if (maps_take(t, &m)) {
		begin(t, C_MMAP, "touch_closed", m.bar, m.boff, 0, 0);
		end(t, 0, touch(t, &m, 0, 0) ? ERR_SIGBUS : 0);
		maps_put(&m);
	}
	if (pool_take(t, &f)) {
		begin(t, C_DATAFD, "read_closed", f.fd, 0, 0, 0);
		end_sys(t, read(f.fd, t->rbuf, 64));
		pool_put(&f);
	}
	have = nmaps;
	begin(t, C_REOPEN, "open_mapped", have, 0, 0, 0);
	err = dev_open(d);
	end(t, err ? -1 : 0, err);
	if (!err && have && !container_mode)
		fail(t, "the device opened again while a mapping kept it open");
	if (err && container_mode)
		fail(t, "the group did not give the device again: %s", strerror(err));
	if (err) {
		drop_all();
		begin(t, C_REOPEN, "open", 0, 0, 0, 0);
		err = dev_open(d);
		end(t, err ? -1 : 0, err);
		if (err) {
			fail(t, "reopening %s: %s", d->bdf, strerror(err));
			exit(1);
		}
	}
	dev_regions(d);
	pthread_rwlock_unlock(&dev_lock);
	pthread_rwlock_rdlock(&dev_lock);
}

/* --- differential mode ----------------------------------------------------- */

/* Config space bytes that never change and are the same on twin igbs. */
static int stable_config_byte(__u64 off)
{
	return off < 4 || (off >= 8 && off < 12) || (off >= 0x2c && off < 0x30) || off == 0x34;
}

/*
 * Differences between the drivers the uAPI allows: region index 9 exists on
 * rvfio-pci only (the v1 migration region); the mmap-able BARs' region info
 * carries rvfio-pci's VFIO_REGION_INFO_CAP_SPARSE_MMAP_SAVING, so its
 * capability chain is longer: for an argsz that claims room the memory does
 * not have, one driver writes its chain there (EFAULT) where the other finds
 * the argsz too short for its own and writes the fixed part only (0), either
 * way round; features only rvfio-pci has.
 */
static int expected_difference(struct op *o, struct op *twin)
{
	unsigned char *arg = (unsigned char *)(uintptr_t)o->a[3];
	__u32 index;

	if (o->cat == C_IOCTL && o->a[0] == VFIO_DEVICE_GET_REGION_INFO &&
	    arg >= self->area && arg + 12 <= self->area + AREA) {
		index = ((__u32 *)arg)[2];
		if (index == (__u32)dev_a.v1)
			return 1;
		if (index < VFIO_PCI_ROM_REGION_INDEX &&
		    (dev_a.reg[index].flags & VFIO_REGION_INFO_FLAG_MMAP) &&
		    (o->err == EFAULT || twin->err == EFAULT) && !(o->err && twin->err))
			return 1;
	}
	if (o->cat == C_REGION && (int)o->a[0] == dev_a.v1)
		return 1;
	if (o->cat == C_FEATURE && rvfio_only_feature(o->a[0] & VFIO_DEVICE_FEATURE_MASK))
		return 1;
	return 0;
}

/* Runs one operation of @fn on both devices from the same state and compares. */
static void diff_op(struct thr *t, void (*fn)(struct thr *, struct dev *))
{
	static unsigned char rbuf_a[STREAM_MAX];
	__u64 state = t->prng;
	struct op a, b;

	fn(t, &dev_a);
	a = t->ring[t->seq % RING];
	memcpy(rbuf_a, t->rbuf, sizeof(rbuf_a));
	t->prng = state;
	fn(t, &dev_b);
	b = t->ring[t->seq % RING];
	if (a.ret == b.ret && a.err == b.err) {
		if (a.cat == C_REGION && !strcmp(a.what, "pread") && a.a[0] ==
		    VFIO_PCI_CONFIG_REGION_INDEX && a.ret > 0) {
			for (long i = 0; i < a.ret; i++) {
				if (stable_config_byte(a.a[1] + i) && rbuf_a[i] != t->rbuf[i]) {
					fail(t, "config byte %#llx: %#x on %s, %#x on %s",
					     a.a[1] + i, rbuf_a[i], dev_a.bdf, t->rbuf[i], dev_b.bdf);
					break;
				}
			}
		}
		return;
	}
	if (expected_difference(&a, &b)) {
		expected_diffs++;
		return;
	}
	disagreements++;
	fail(t, "drivers disagree: %s %s %#llx %#llx %#llx: %ld %s on %s, %ld %s on %s",
	     cat_name[a.cat], a.what, a.a[0], a.a[1], a.a[2], a.ret, a.err ? err_name(a.err) : "",
	     dev_a.bdf, b.ret, b.err ? err_name(b.err) : "", dev_b.bdf);
}

/* --- the run --------------------------------------------------------------- */

static void one_op(struct thr *t)
{
	__u32 r = rnd(t, 1000);
	struct dev *d = &dev_a;

	if (diff_mode) {
		if (!rnd(t, RESET_EVERY))
			diff_op(t, op_reset);
		else if (r < 350)
			diff_op(t, op_ioctl);
		else if (r < 800)
			diff_op(t, op_region);
		else
			diff_op(t, op_feature);
		return;
	}
	if (!rnd(t, RESET_EVERY))
		op_reset(t, d);
	else if (!rnd(t, REOPEN_EVERY))
		op_reopen(t, d);
	else if (r < 250)
		op_ioctl(t, d);
	else if (r < 550)
		op_region(t, d);
	else if (r < 640)
		op_mmap(t, d);
	else if (r < 720)
		op_mig_v2(t, d, 0);
	else if (r < 780)
		op_mig_v1(t, d);
	else if (r < 900)
		op_datafd(t);
	else
		op_feature(t, d);
}

static void *run(void *arg)
{
	unsigned long report = 100000;
	struct thr *t = arg;
	int reopened = 0, reset = 0;

	self = t;
	t->prng = seed + t->idx;
	pthread_mutex_lock(&vma_lock);
	t->area = mmap(NULL, AREA + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);
	pthread_mutex_unlock(&vma_lock);
	if (t->area == MAP_FAILED || mprotect(t->area + AREA, PAGE, PROT_NONE))
		vfio_cdev_die("argument area");
	t->efd = eventfd(0, EFD_CLOEXEC);
	/* Counted in recorded operations: some draws find no data fd or mapping. */
	for (t->ops = 0; unbounded || t->ops < ops_per_thread;
	     t->ops = t->seq / (diff_mode ? 2 : 1)) {
		if (__atomic_load_n(&stop_flag, __ATOMIC_RELAXED))
			break;
		pthread_rwlock_rdlock(&dev_lock);
		/* Every run closes and reopens the device and resets it at least once. */
		if (!t->idx && !diff_mode && !reopened && t->ops >= ops_per_thread / 2) {
			reopened = 1;
			op_reopen(t, &dev_a);
		} else if (!t->idx && !reset && t->ops >= ops_per_thread / 3) {
			reset = 1;
			if (diff_mode)
				diff_op(t, op_reset);
			else
				op_reset(t, &dev_a);
		} else {
			one_op(t);
		}
		pthread_rwlock_unlock(&dev_lock);
		if (!t->idx && t->ops >= report) {
			printf("# thread 0: %lu operations\n", t->ops);
			report += 100000;
		}
	}
	return NULL;
}

/* Saves the device's stream through STOP_COPY: the base of every stream written. */
static void save_stream(void)
{
	ssize_t got;
	int fd, ret;

	back_to_running(dev_a.fd);
	ret = set_state(dev_a.fd, VFIO_DEVICE_STATE_STOP_COPY, &fd);
	while (!ret && (got = read(fd, saved + saved_len, sizeof(saved) - saved_len)) > 0)
		saved_len += got;
	if (!ret)
		close(fd);
	back_to_running(dev_a.fd);
	result("saved_stream", !ret && saved_len > 52 && !memcmp(saved, "RVFIOMIG", 8),
	       "%s, %zu bytes", strerror(ret), saved_len);
}

static void print_table(void)
{
	unsigned long total = 0;
	int tried = 0, done = 0;

	for (int c = 0; c < C_NR; c++) {
		char errs[1024] = "";
		size_t n = 0;

		for (int e = 0; e < ERR_MAX; e++)
			if (stat_err[c][e] && n < sizeof(errs))
				n += snprintf(errs + n, sizeof(errs) - n, "%s%s: %lu",
					      n ? ", " : "", err_name(e), stat_err[c][e]);
		printf("FUZZ %s ops %lu ok %lu errors {%s}\n", cat_name[c], stat_ops[c],
		       stat_ok[c], errs);
		total += stat_ops[c];
	}
	printf("FUZZ total ops %lu\n", total);
	for (int from = 1; from < 8; from++)
		for (int to = 1; to < 8; to++) {
			tried += !!arc_tried[from][to];
			done += !!arc_done[from][to];
		}
	printf("FUZZ mig_v2 pairs of states: %d of 49 tried, %d of them done\n", tried, done);
	printf("FUZZ feature successes by index:");
	for (int i = 0; i < FEATURES; i++)
		if (feature_ok[i])
			printf(i < 17 ? " %d: %lu" : " 0x%x: %lu",
			       i < 17 ? i : RVFIO_DEVICE_FEATURE_PCI_PASID_ATS, feature_ok[i]);
	printf("\n");
}

/* The device after the run: a reset, its IDs, a RUNNING -> STOP -> RUNNING trip. */
static void check_alive(struct dev *d, const char *name, int migration)
{
	__u16 id[2] = { 0, 0 };
	int reset, ret = 0;
	char check[64];

	reset = ioctl(d->fd, VFIO_DEVICE_RESET) ? errno : 0;
	if (pread(d->fd, id, 4, REGION_POS(VFIO_PCI_CONFIG_REGION_INDEX)) != 4)
		ret = errno;
	snprintf(check, sizeof(check), "%s_alive", name);
	result(check, !reset && !ret && id[0] == 0x8086 && id[1] == 0x10c9,
	       "reset %s, config read %s, ID %04x:%04x", strerror(reset), strerror(ret), id[0],
	       id[1]);
	if (!migration)
		return;
	ret = set_state(d->fd, VFIO_DEVICE_STATE_STOP, NULL);
	if (!ret)
		ret = set_state(d->fd, VFIO_DEVICE_STATE_RUNNING, NULL);
	result("migration_round_trip", !ret && get_state(d->fd) == VFIO_DEVICE_STATE_RUNNING,
	       "%s, state %u", strerror(ret), get_state(d->fd));
}

static void bad_args(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [--seed N] [--ops N | --unbounded] [--threads N] [--container]\n"
		"       [--diff TWIN_BDF] BDF\n",
		argv0);
	exit(2);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_NODEFER };
	pthread_rwlockattr_t attr;
	unsigned long ops = 20000;
	struct timespec t0, t1;
	unsigned long done = 0;
	int i, err;

	seed = time(NULL);
	for (i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "--seed"))
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--ops"))
			ops = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--unbounded"))
			unbounded = 1;
		else if (!strcmp(argv[i], "--threads"))
			nthreads = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--container"))
			container_mode = 1;
		else if (!strcmp(argv[i], "--diff"))
			dev_b.bdf = argv[++i];
		else
			bad_args(argv[0]);
	}
	if (i != argc - 1 || nthreads < 1 || nthreads > MAX_THREADS || (dev_b.bdf && nthreads > 1) ||
	    (dev_b.bdf && container_mode))
		bad_args(argv[0]);
	dev_a.bdf = argv[i];
	dev_a.group = dev_b.group = -1;
	diff_mode = !!dev_b.bdf;
	ops_per_thread = (ops + nthreads - 1) / nthreads;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# uapi_fuzz seed %llu ops %lu%s threads %d device %s%s%s%s\n", seed, ops,
	       unbounded ? " (unbounded)" : "", nthreads, dev_a.bdf, diff_mode ? " twin " : "",
	       diff_mode ? dev_b.bdf : "", container_mode ? " (container)" : "");

	for (int c = 0; c < C_NR; c++)
		for (int k = 0; k < 20 && allowed_list[c][k]; k++)
			allowed[c][allowed_list[c][k]] = 1;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGABRT, &sa, NULL);
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	signal(SIGPIPE, SIG_IGN);
	/* A reopen must not wait behind a stream of readers. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&dev_lock, &attr);

	err = dev_open(&dev_a);
	if (err) {
		errno = err;
		vfio_cdev_die(dev_a.bdf);
	}
	dev_regions(&dev_a);
	if (diff_mode) {
		err = dev_open(&dev_b);
		if (err) {
			errno = err;
			vfio_cdev_die(dev_b.bdf);
		}
		dev_regions(&dev_b);
	} else {
		save_stream();
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < nthreads; i++) {
		threads[i].idx = i;
		if (pthread_create(&threads[i].tid, NULL, run, &threads[i]))
			vfio_cdev_die("pthread_create");
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(threads[i].tid, NULL);
		done += threads[i].ops;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %lu operations in %.1f s\n", done,
	       t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	print_table();
	if (diff_mode)
		printf("FUZZ diff disagreements %lu expected %lu\n", disagreements, expected_diffs);

	drop_all();
	result("ops_done", unbounded || done >= ops, "%lu of %lu", done, ops);
	result("no_failure", !failures, "%d failures, first rings above", failures);
	check_alive(&dev_a, "device", !diff_mode);
	if (diff_mode)
		check_alive(&dev_b, "twin", 0);
	return results_failed ? 1 : 0;
}
