// SPDX-License-Identifier: GPL-2.0
/*
 * nested_igb: the driver of an igb that an unmodified QEMU passes through to
 * a nested guest, run from outside that guest through QEMU's qtest protocol,
 * and a QMP client for the same QEMU. It runs in the test VM, beside QEMU.
 *
 *   nested_igb qmp MON JSON      one QMP command; prints the reply line,
 *                                exits 1 on an error reply
 *   nested_igb probe QT SLOT     config space and BAR 0 registers
 *   nested_igb init QT SLOT      BARs, MSI-X, reset, PHY loopback, rings
 *   nested_igb post QT SLOT N    hand the device N receive buffers
 *   nested_igb send QT SLOT N    transmit N frames, looped back into the
 *                                posted receive buffers
 *   nested_igb check QT SLOT     wait for every frame sent, check each
 *                                received buffer's data and the MSI
 *   nested_igb precopy-send QT SLOT N MON
 *                                during a migration's pre-copy: hold QEMU
 *                                back (a page kept dirty) until its first
 *                                pass over memory is over, send N frames and
 *                                wait until they landed
 *   nested_igb verify QT SLOT    every frame sent and not checked must be
 *                                written back already and hold its data;
 *                                no wait, no state change (after a migration:
 *                                what the destination's memory holds)
 *   nested_igb bench QT SLOT N   N round trips of one frame; prints the time
 *   nested_igb mmio QT SLOT N    N writes to a register of BAR 0's first page
 *                                and N to the doorbell of an idle queue, in
 *                                turns of 100; prints the time of each kind
 *
 * QT and MON name FIFO pairs (QT.in and QT.out, MON.in and MON.out) QEMU was
 * started with: -qtest pipe:QT, -chardev pipe,id=mon,path=MON -mon
 * chardev=mon,mode=control. SLOT is the device's slot on the nested guest's
 * bus 0 (-device vfio-pci,addr=SLOT).
 *
 * What a guest driver would do it does with the accesses the guest would
 * make: config cycles through ports 0xcf8/0xcfc, MMIO to the BARs it placed,
 * descriptors and buffers in nested-guest RAM; the MSI-X vector points at
 * nested-guest RAM, so a delivered interrupt shows as its message data there.
 * The driver's state lives in nested-guest RAM too (struct state), so it
 * migrates with the guest: after a migration the commands go on against the
 * destination's QEMU, with nothing initialised again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/mii.h>
#include <linux/pci_regs.h>

#include "e1000_regs.h"
#include "e1000_defines.h"
#include "e1000_82575.h"

/* Receive and transmit descriptors per ring, and bytes per frame. */
#define RING 256
#define FRAME 1024
#define DESC 16

/* Nested-guest RAM of the device in SLOT: a 4 MiB window from SLOT * 4 MiB. */
#define WINDOW(slot) ((uint64_t)(slot) << 22)
#define STATE_AT(slot) (WINDOW(slot) + 0x0000)
#define TX_RING(slot) (WINDOW(slot) + 0x1000)
#define RX_RING(slot) (WINDOW(slot) + 0x2000)
#define MSI_AT(slot) (WINDOW(slot) + 0x3000)
#define SCRATCH(slot) (WINDOW(slot) + 0x4000)
#define SRC(slot, i) (WINDOW(slot) + 0x100000 + (uint64_t)(i) * FRAME)
#define DST(slot, i) (WINDOW(slot) + 0x200000 + (uint64_t)(i) * FRAME)

/* MMIO: a 1 MiB window per slot for the device's memory BARs. */
#define MMIO(slot) (0xe0000000u + ((uint32_t)(slot) << 20))

#define MSI_DATA 0x4d534958u /* "XISM" */
#define STATE_MAGIC 0x6e696762u /* "bgin" */

/* Longest wait for the device or QEMU; a bound against a hang, not a timing check. */
#define WAIT_SECONDS 60

/* The driver's state, in nested-guest RAM at STATE_AT(slot). */
struct state {
	uint32_t magic;
	uint32_t bar0;
	uint32_t rx_tail;	/* receive descriptors handed to the device */
	uint32_t tx_tail;	/* frames sent */
	uint32_t checked;	/* frames received and checked */
};

static int qt_in = -1, qt_out = -1;
static unsigned int slot;

static void fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "nested_igb: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

/* Opens FIFO pair PATH.in/PATH.out; both read-write, so that opening never waits for QEMU. */
static void open_pair(const char *path, int *in, int *out)
{
	char name[256];

	snprintf(name, sizeof(name), "%s.in", path);
	*in = open(name, O_RDWR);
	snprintf(name, sizeof(name), "%s.out", path);
	*out = open(name, O_RDWR);
	if (*in < 0 || *out < 0)
		fail("cannot open %s.in/.out: %s", path, strerror(errno));
}

/* Reads one line from @fd into @line (without its newline), waiting for it at most WAIT_SECONDS. */
static void read_line(int fd, char *line, size_t size)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0;
	char c;

	for (;;) {
		if (poll(&pfd, 1, WAIT_SECONDS * 1000) != 1)
			fail("no answer from QEMU within %d s", WAIT_SECONDS);
		if (read(fd, &c, 1) != 1)
			fail("reading from QEMU: %s", strerror(errno));
		if (c == '\n')
			break;
		if (len + 1 < size)
			line[len++] = c;
	}
	line[len] = 0;
}

static void write_all(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len) {
		ssize_t put = write(fd, text, len);

		if (put < 0)
			fail("writing to QEMU: %s", strerror(errno));
		text += put;
		len -= put;
	}
}

/* Sends one qtest command; returns the value of its "OK 0x..." answer, or 0 for "OK". */
static uint64_t qt(char *answer, size_t size, const char *fmt, ...)
{
	static char command[8192], line[8192];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(command, sizeof(command) - 1, fmt, ap);
	va_end(ap);
	strcat(command, "\n");
	write_all(qt_in, command);
	read_line(qt_out, line, sizeof(line));
	if (strncmp(line, "OK", 2))
		fail("qtest '%.*s': %s", (int)strlen(command) - 1, command, line);
	if (answer) {
		const char *value = line[2] ? line + 3 : "";

		size_t len = strlen(value);

		if (len >= size)
			fail("qtest answer longer than %zu bytes", size);
		memcpy(answer, value, len + 1);
	}
	return line[2] ? strtoull(line + 3, NULL, 16) : 0;
}

static uint32_t cfg_addr(unsigned int reg)
{
	return 0x80000000u | (slot << 11) | (reg & 0xfc);
}

static uint32_t cfg_read(unsigned int reg)
{
	qt(NULL, 0, "outl 0xcf8 0x%x", cfg_addr(reg));
	return qt(NULL, 0, "inl 0xcfc");
}

static void cfg_write(unsigned int reg, uint32_t value)
{
	qt(NULL, 0, "outl 0xcf8 0x%x", cfg_addr(reg));
	qt(NULL, 0, "outl 0xcfc 0x%x", value);
}

static uint32_t mem_read32(uint64_t at)
{
	return qt(NULL, 0, "readl 0x%llx", (unsigned long long)at);
}

static void mem_write32(uint64_t at, uint32_t value)
{
	qt(NULL, 0, "writel 0x%llx 0x%x", (unsigned long long)at, value);
}

static void mem_write64(uint64_t at, uint64_t value)
{
	qt(NULL, 0, "writeq 0x%llx 0x%llx", (unsigned long long)at,
	   (unsigned long long)value);
}

static struct state st;

static uint32_t reg_read(uint32_t reg)
{
	return mem_read32(st.bar0 + reg);
}

static void reg_write(uint32_t reg, uint32_t value)
{
	mem_write32(st.bar0 + reg, value);
}

static void load_state(void)
{
	char hex[2 * sizeof(st) + 3];
	unsigned char *bytes = (unsigned char *)&st;

	qt(hex, sizeof(hex), "read 0x%llx %zu", (unsigned long long)STATE_AT(slot), sizeof(st));
	for (size_t i = 0; i < sizeof(st); i++) {
		if (sscanf(hex + 2 + 2 * i, "%2hhx", &bytes[i]) != 1)
			fail("unreadable driver state in nested-guest RAM: %s", hex);
	}
	if (st.magic != STATE_MAGIC)
		fail("no driver state in nested-guest RAM at 0x%llx: run init first",
		     (unsigned long long)STATE_AT(slot));
}

static void save_state(void)
{
	char hex[2 * sizeof(st) + 1];
	const unsigned char *bytes = (const unsigned char *)&st;

	for (size_t i = 0; i < sizeof(st); i++)
		sprintf(hex + 2 * i, "%02x", bytes[i]);
	qt(NULL, 0, "write 0x%llx %zu 0x%s", (unsigned long long)STATE_AT(slot), sizeof(st), hex);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Polls @reg until (value & mask) == want; fails after WAIT_SECONDS. */
static void reg_wait(uint32_t reg, uint32_t mask, uint32_t want, const char *what)
{
	double end = now() + WAIT_SECONDS;

	while ((reg_read(reg) & mask) != want) {
		if (now() > end)
			fail("%s: register 0x%x & 0x%x never became 0x%x", what, reg, mask, want);
		usleep(1000);
	}
}

/* The capability @id in the standard list, or 0. */
static unsigned int find_cap(unsigned int id)
{
	unsigned int at = cfg_read(PCI_CAPABILITY_LIST) & 0xfc;

	for (int hops = 0; at && hops < 48; hops++) {
		uint32_t head = cfg_read(at);

		if ((head & 0xff) == id)
			return at;
		at = (head >> 8) & 0xfc;
	}
	return 0;
}

/* Byte @j of frame @n: what the sender writes and the receiver must find. */
static unsigned char pattern(uint32_t n, unsigned int j)
{
	return (unsigned char)(n * 13 + j * 7 + 1);
}

static void frame_hex(uint32_t n, char *hex)
{
	for (unsigned int j = 0; j < FRAME; j++)
		sprintf(hex + 2 * j, "%02x", pattern(n, j));
}

/* Places the memory BARs in the slot's MMIO window, as firmware would; returns BAR @want's address. */
static uint32_t place_bars(unsigned int want)
{
	uint32_t next = MMIO(slot), found = 0;

	for (unsigned int bar = 0; bar < 6; bar++) {
		unsigned int reg = PCI_BASE_ADDRESS_0 + 4 * bar;
		uint32_t orig = cfg_read(reg), size;

		if (orig & PCI_BASE_ADDRESS_SPACE_IO)
			continue;
		cfg_write(reg, 0xffffffff);
		size = ~(cfg_read(reg) & PCI_BASE_ADDRESS_MEM_MASK) + 1;
		if (!size || size > 0x80000) {
			cfg_write(reg, orig);
			continue;
		}
		next = (next + size - 1) & ~(size - 1);
		cfg_write(reg, next);
		if (bar == want)
			found = next;
		next += size;
		if ((orig & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64) {
			cfg_write(reg + 4, 0);
			bar++;
		}
	}
	if (!found)
		fail("BAR %u is not a memory BAR of up to 512 KiB", want);
	return found;
}

static void phy_write(unsigned int reg, uint16_t value)
{
	reg_write(E1000_MDIC, value | (reg << E1000_MDIC_REG_SHIFT) |
		  (1 << E1000_MDIC_PHY_SHIFT) | E1000_MDIC_OP_WRITE);
	reg_wait(E1000_MDIC, E1000_MDIC_READY, E1000_MDIC_READY, "MDIC write");
}

static void cmd_probe(void)
{
	uint32_t id = cfg_read(PCI_VENDOR_ID), bar0, scratch;
	unsigned int at;

	printf("PROBE id %04x:%04x\n", id & 0xffff, id >> 16);
	printf("PROBE caps");
	at = cfg_read(PCI_CAPABILITY_LIST) & 0xfc;
	for (int hops = 0; at && hops < 48; hops++) {
		uint32_t head = cfg_read(at);

		printf(" %02x@%02x", head & 0xff, at);
		at = (head >> 8) & 0xfc;
	}
	printf("\n");
	bar0 = place_bars(0);
	cfg_write(PCI_COMMAND, (cfg_read(PCI_COMMAND) & 0xffff) | PCI_COMMAND_MEMORY);
	/* RDBAL of queue 1: a plain read-write register the tests use nowhere else. */
	scratch = E1000_RDBAL(1);
	mem_write32(bar0 + scratch, 0x12345680);
	printf("PROBE bar0 status %08x scratch %08x\n", mem_read32(bar0 + E1000_STATUS) & 0x3,
	       mem_read32(bar0 + scratch));
}

static void cmd_init(void)
{
	unsigned int msix = find_cap(PCI_CAP_ID_MSIX);
	uint32_t table, table_bar, ctrl;

	if (!msix)
		fail("no MSI-X capability");
	memset(&st, 0, sizeof(st));
	st.magic = STATE_MAGIC;
	table = cfg_read(msix + PCI_MSIX_TABLE);
	table_bar = table & PCI_MSIX_TABLE_BIR;
	st.bar0 = place_bars(0);
	table = place_bars(table_bar) + (table & PCI_MSIX_TABLE_OFFSET);
	cfg_write(PCI_COMMAND, (cfg_read(PCI_COMMAND) & 0xffff) |
		  PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* MSI-X vector 0 writes MSI_DATA to nested-guest RAM. */
	mem_write32(MSI_AT(slot), 0);
	mem_write32(table + PCI_MSIX_ENTRY_LOWER_ADDR, (uint32_t)MSI_AT(slot));
	mem_write32(table + PCI_MSIX_ENTRY_UPPER_ADDR, 0);
	mem_write32(table + PCI_MSIX_ENTRY_DATA, MSI_DATA);
	mem_write32(table + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	ctrl = cfg_read(msix) & ~((uint32_t)PCI_MSIX_FLAGS_MASKALL << 16);
	cfg_write(msix, ctrl | ((uint32_t)PCI_MSIX_FLAGS_ENABLE << 16));

	reg_write(E1000_CTRL, reg_read(E1000_CTRL) | E1000_CTRL_RST);
	usleep(1000);
	reg_wait(E1000_CTRL, E1000_CTRL_RST, 0, "reset");
	reg_write(E1000_IMC, 0xffffffff);
	reg_write(E1000_CTRL_EXT, (reg_read(E1000_CTRL_EXT) | E1000_CTRL_EXT_DRV_LOAD) &
		  ~E1000_CTRL_EXT_LINK_MODE_MASK);

	/* PHY loopback, as upstream's selftest driver sets it up on QEMU's igb. */
	phy_write(MII_BMCR, BMCR_ANENABLE | BMCR_ANRESTART);
	phy_write(MII_BMCR, BMCR_LOOPBACK | BMCR_SPEED1000 | BMCR_FULLDPLX);
	usleep(50000);
	reg_write(E1000_CTRL, (reg_read(E1000_CTRL) & ~E1000_CTRL_SPD_SEL) | E1000_CTRL_FRCSPD |
		  E1000_CTRL_FRCDPX | E1000_CTRL_SPD_1000 | E1000_CTRL_FD | E1000_CTRL_SLU);
	reg_wait(E1000_STATUS, E1000_STATUS_LU, E1000_STATUS_LU, "link up");

	reg_write(E1000_TDBAL(0), (uint32_t)TX_RING(slot));
	reg_write(E1000_TDBAH(0), 0);
	reg_write(E1000_TDLEN(0), RING * DESC);
	reg_write(E1000_TDH(0), 0);
	reg_write(E1000_TDT(0), 0);
	reg_write(E1000_TXDCTL(0), E1000_TXDCTL_QUEUE_ENABLE);
	reg_write(E1000_RDBAL(0), (uint32_t)RX_RING(slot));
	reg_write(E1000_RDBAH(0), 0);
	reg_write(E1000_RDLEN(0), RING * DESC);
	reg_write(E1000_RDH(0), 0);
	reg_write(E1000_RDT(0), 0);
	reg_write(E1000_SRRCTL(0), E1000_SRRCTL_DESCTYPE_ADV_ONEBUF);
	reg_write(E1000_RXDCTL(0), E1000_RXDCTL_QUEUE_ENABLE);
	reg_write(E1000_RCTL, E1000_RCTL_EN | E1000_RCTL_UPE | E1000_RCTL_MPE | E1000_RCTL_BAM |
		  E1000_RCTL_LBM_MAC | E1000_RCTL_SECRC);
	reg_write(E1000_TCTL, E1000_TCTL_EN | E1000_TCTL_PSP);
	reg_wait(E1000_TXDCTL(0), E1000_TXDCTL_QUEUE_ENABLE, E1000_TXDCTL_QUEUE_ENABLE, "TX queue");
	reg_wait(E1000_RXDCTL(0), E1000_RXDCTL_QUEUE_ENABLE, E1000_RXDCTL_QUEUE_ENABLE, "RX queue");

	/* Received frames raise vector 0, which then masks itself until check re-arms it. */
	reg_write(E1000_GPIE, E1000_GPIE_MSIX_MODE | E1000_GPIE_EIAME);
	reg_write(E1000_EIAC, 1);
	reg_write(E1000_EIAM, 1);
	reg_write(E1000_IVAR0, E1000_IVAR_VALID);
	reg_write(E1000_EIMS, 1);
	save_state();
	printf("INIT bar0 0x%x msix table 0x%x\n", st.bar0, table);
}

static void cmd_post(unsigned int count)
{
	for (unsigned int i = 0; i < count; i++) {
		unsigned int at = st.rx_tail % RING;

		if (st.rx_tail - st.checked >= RING - 1)
			fail("receive ring full");
		qt(NULL, 0, "memset 0x%llx %u 0", (unsigned long long)DST(slot, at), FRAME);
		mem_write64(RX_RING(slot) + at * DESC, DST(slot, at));
		mem_write64(RX_RING(slot) + at * DESC + 8, 0);
		st.rx_tail++;
	}
	reg_write(E1000_RDT(0), st.rx_tail % RING);
	save_state();
}

static void cmd_send(unsigned int count)
{
	static char hex[2 * FRAME + 1];

	if (st.tx_tail + count > st.rx_tail)
		fail("sending %u frames with %u receive buffers free", count,
		     st.rx_tail - st.tx_tail);
	mem_write32(MSI_AT(slot), 0);
	for (unsigned int i = 0; i < count; i++) {
		unsigned int at = st.tx_tail % RING;

		frame_hex(st.tx_tail, hex);
		qt(NULL, 0, "write 0x%llx %u 0x%s", (unsigned long long)SRC(slot, at), FRAME, hex);
		mem_write64(TX_RING(slot) + at * DESC, SRC(slot, at));
		mem_write64(TX_RING(slot) + at * DESC + 8,
			    (FRAME | E1000_ADVTXD_DTYP_DATA | E1000_ADVTXD_DCMD_DEXT |
			     E1000_ADVTXD_DCMD_IFCS | E1000_ADVTXD_DCMD_EOP) |
			    ((uint64_t)FRAME << E1000_ADVTXD_PAYLEN_SHIFT << 32));
		st.tx_tail++;
	}
	reg_write(E1000_TDT(0), st.tx_tail % RING);
	save_state();
}

/*
 * Frames sent and not checked yet: each must be written back already and hold
 * what was sent; no wait, no state change. Returns how many.
 */
static unsigned int frames_written(void)
{
	static char hex[2 * FRAME + 8], want[2 * FRAME + 1];
	unsigned int frame;

	for (frame = st.checked; frame != st.tx_tail; frame++) {
		unsigned int at = frame % RING;

		if (!(mem_read32(RX_RING(slot) + at * DESC + 8) & E1000_RXD_STAT_DD))
			fail("frame %u: receive descriptor %u not written back", frame, at);
		qt(hex, sizeof(hex), "read 0x%llx %u", (unsigned long long)DST(slot, at), FRAME);
		frame_hex(frame, want);
		if (strncmp(hex + 2, want, 2 * FRAME))
			fail("frame %u: received data differs from what was sent", frame);
	}
	return st.tx_tail - st.checked;
}

/* Waits for every frame sent, checks each, and the interrupt; returns the frames checked. */
static unsigned int cmd_check(void)
{
	static char hex[2 * FRAME + 8], want[2 * FRAME + 1];
	unsigned int frames = st.tx_tail - st.checked;
	double end;

	for (; st.checked != st.tx_tail; st.checked++) {
		unsigned int at = st.checked % RING;
		uint64_t status_at = RX_RING(slot) + at * DESC + 8;

		end = now() + WAIT_SECONDS;
		while (!(mem_read32(status_at) & E1000_RXD_STAT_DD)) {
			if (now() > end)
				fail("frame %u: receive descriptor %u never written back", st.checked,
				     at);
			usleep(1000);
		}
		if ((mem_read32(status_at + 4) & 0xffff) != FRAME)
			fail("frame %u: length %u, not %u", st.checked,
			     mem_read32(status_at + 4) & 0xffff, FRAME);
		qt(hex, sizeof(hex), "read 0x%llx %u", (unsigned long long)DST(slot, at), FRAME);
		frame_hex(st.checked, want);
		if (strncmp(hex + 2, want, 2 * FRAME))
			fail("frame %u: received data differs from what was sent", st.checked);
	}
	if (frames) {
		end = now() + WAIT_SECONDS;
		while (mem_read32(MSI_AT(slot)) != MSI_DATA) {
			if (now() > end)
				fail("no MSI-X message after %u frames", frames);
			usleep(1000);
		}
	}
	/* Clear the causes and re-arm vector 0 (auto-masked when it fired). */
	reg_write(E1000_EICR, 0xffffffff);
	reg_write(E1000_EIMS, 1);
	save_state();
	return frames;
}

static int cmd_qmp(const char *mon, const char *json)
{
	char line[65536];
	int in, out;

	open_pair(mon, &in, &out);
	write_all(in, json);
	write_all(in, "\n");
	for (;;) {
		read_line(out, line, sizeof(line));
		if (!strncmp(line, "{\"return\"", 9) || !strncmp(line, "{\"error\"", 8))
			break;
	}
	printf("%s\n", line);
	return line[2] == 'e';
}

/*
 * Times @count writes of each kind: FCAL (flow control address, page 0, which
 * no layout traps) and the receive tail of queue 1 (a doorbell, in a page the
 * saving layout traps; the queue is disabled, so the write starts nothing).
 */
static void cmd_mmio(unsigned int count)
{
	double spent[2] = { 0, 0 }, start;
	const uint32_t regs[2] = { E1000_FCAL, E1000_RDT(1) };

	for (unsigned int done = 0; done < count; done += 100) {
		for (int kind = 0; kind < 2; kind++) {
			start = now();
			for (unsigned int i = done; i < count && i < done + 100; i++)
				reg_write(regs[kind], 0);
			spent[kind] += now() - start;
		}
	}
	printf("MMIO %u writes each: page-0 register %.1f us, idle queue's doorbell %.1f us\n",
	       count, spent[0] * 1e6 / count, spent[1] * 1e6 / count);
}

/* QEMU's count of the dirty-log synchronisations of the migration under way. */
static unsigned long dirty_syncs(int in, int out)
{
	static char line[65536];
	const char *at;

	write_all(in, "{\"execute\":\"query-migrate\"}\n");
	do
		read_line(out, line, sizeof(line));
	while (strncmp(line, "{\"return\"", 9) && strncmp(line, "{\"error\"", 8));
	at = strstr(line, "\"dirty-sync-count\": ");
	return at ? strtoul(at + strlen("\"dirty-sync-count\": "), NULL, 10) : 0;
}

/*
 * During a migration's pre-copy: keeps a page of nested-guest RAM dirty, so
 * that QEMU always has memory left to send and does not switch over, until
 * QEMU's first pass over memory is done (its second dirty-log
 * synchronisation); then transmits @count frames into the posted receive
 * buffers, whose pages QEMU sent already, and keeps the page dirty until the
 * device wrote every frame back. What the device wrote is then only known to
 * QEMU through the device's DMA log.
 */
static void cmd_precopy_send(const char *mon, unsigned int count)
{
	unsigned int frame, syncs;
	uint32_t beat = 0;
	double end = now() + WAIT_SECONDS;
	int in, out;

	open_pair(mon, &in, &out);
	while ((syncs = dirty_syncs(in, out)) < 2) {
		mem_write32(SCRATCH(slot), ++beat);
		if (now() > end)
			fail("QEMU's first pass over memory did not end");
	}
	cmd_send(count);
	end = now() + WAIT_SECONDS;
	for (frame = st.checked; frame != st.tx_tail;) {
		if (mem_read32(RX_RING(slot) + (frame % RING) * DESC + 8) & E1000_RXD_STAT_DD) {
			frame++;
			continue;
		}
		mem_write32(SCRATCH(slot), ++beat);
		if (now() > end)
			fail("frame %u: receive descriptor never written back", frame);
		usleep(1000);
	}
	printf("PRECOPY-SENT %u frames after QEMU's dirty-log synchronisation %u\n", count,
	       syncs);
}

int main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : "";
	unsigned int count = argc > 4 ? strtoul(argv[4], NULL, 0) : 0;
	double start;

	if (!strcmp(cmd, "qmp") && argc == 4)
		return cmd_qmp(argv[2], argv[3]);
	if (argc < 4)
		fail("usage: nested_igb qmp MON JSON | probe|init|check|verify QT SLOT | post|send|bench|mmio QT SLOT N | precopy-send QT SLOT N MON");
	slot = strtoul(argv[3], NULL, 0);
	if (slot < 2 || slot > 7)
		fail("slot %u: the tests use slots 2 to 7", slot);
	open_pair(argv[2], &qt_in, &qt_out);

	if (!strcmp(cmd, "probe")) {
		cmd_probe();
		return 0;
	}
	if (!strcmp(cmd, "init")) {
		cmd_init();
		return 0;
	}
	load_state();
	if (!strcmp(cmd, "post")) {
		cmd_post(count);
	} else if (!strcmp(cmd, "send")) {
		cmd_send(count);
	} else if (!strcmp(cmd, "check")) {
		unsigned int frames = cmd_check();

		printf("CHECKED %u frames, %u in all\n", frames, st.checked);
	} else if (!strcmp(cmd, "precopy-send") && count && argc > 5) {
		cmd_precopy_send(argv[5], count);
	} else if (!strcmp(cmd, "verify")) {
		printf("VERIFIED %u frames\n", frames_written());
	} else if (!strcmp(cmd, "mmio") && count) {
		cmd_mmio(count);
	} else if (!strcmp(cmd, "bench") && count) {
		start = now();
		for (unsigned int i = 0; i < count; i++) {
			cmd_post(1);
			cmd_send(1);
			cmd_check();
		}
		printf("BENCH %u round trips of one %u-byte frame: %.2f ms each\n", count, FRAME,
		       (now() - start) * 1000 / count);
	} else {
		fail("unknown command %s", cmd);
	}
	return 0;
}
