#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds a fuzz target and runs it for SECONDS (default 60).
#
# Usage: tests/fuzz/run.sh [SECONDS [TARGET]]
#
# TARGET is config_walk (the default: capability walks, PASID hiding, layout,
# payload; src/lib.rs), stream_decode (the migration stream decoder and the
# igb personality's reading of records; src/stream.rs) or dma_log (the igb's
# DMA tracker against a model of the device, and the dirty log's page set
# against a bitmap; src/dma_log.rs).
#
# Stable Rust, no cargo-fuzz: a plain cargo build with the sanitizer-coverage
# flags cargo-fuzz would pass (no AddressSanitizer, which needs nightly; the
# pure code has no unsafe). libfuzzer-sys builds libFuzzer with the system C++
# compiler. Everything goes to tests/fuzz/target/: the build, the corpus
# (corpus/TARGET, kept between runs, plus corpus/seeds-TARGET, made afresh each
# run: for config_walk from tests/data/config-space/*.txt, lspci -xxxx style
# hex dumps, and from a synthetic chain; for stream_decode valid igb streams),
# crash artefacts (artifacts/TARGET/) and logs (logs/build.log,
# logs/TARGET.log).
#
# Prints one line:
#   fuzz TARGET: <S> s, <N> executions, <C> coverage, <K> crashes
# and exits nonzero when the build fails, the target crashes (the artefact's
# path is printed; rerun it with `<binary> <artefact>`) or libFuzzer fails.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${1:-60}
name=${2:-config_walk}
out=$here/target
logs=$out/logs
corpus=$out/corpus/$name
seeds=$out/corpus/seeds-$name
artifacts=$out/artifacts/$name

usage() {
	echo "usage: $0 [SECONDS [config_walk|stream_decode|dma_log]]" >&2
	exit 2
}
case $seconds in
'' | *[!0-9]* | 0) usage ;;
esac
# The longest input that matters: a full config space and its two header
# bytes, a stream of two igb records and the piece-size byte, or a guest
# driver's and a device's script.
case $name in
config_walk) max_len=4098 ;;
stream_decode) max_len=8192 ;;
dma_log) max_len=4096 ;;
*) usage ;;
esac

# --- build -------------------------------------------------------------------
# An explicit --target keeps RUSTFLAGS off build scripts, which must not be
# instrumented (they do not link libFuzzer).
triple=$(rustc -vV | sed -n 's/^host: //p')
rustflags=(
	-Cpasses=sancov-module
	-Cllvm-args=-sanitizer-coverage-level=4
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters
	-Cllvm-args=-sanitizer-coverage-pc-table
	-Cllvm-args=-sanitizer-coverage-trace-compares
	-Cllvm-args=-sanitizer-coverage-stack-depth
	-Cllvm-args=-simplifycfg-branch-fold-threshold=0
	-Cdebug-assertions
	-Coverflow-checks
	-Cdebuginfo=line-tables-only
	--cfg=fuzzing
)
mkdir -p "$logs"
unset CARGO_ENCODED_RUSTFLAGS CARGO_BUILD_RUSTFLAGS
if ! RUSTFLAGS="${rustflags[*]}" cargo build --release \
	--manifest-path "$here/Cargo.toml" --target "$triple" \
	--target-dir "$out" --bin "$name" >"$logs/build.log" 2>&1; then
	tail -40 "$logs/build.log"
	echo "fuzz $name: build failed (log: $logs/build.log)"
	exit 1
fi
bin=$out/$triple/release/$name

# --- seeds -------------------------------------------------------------------
rm -rf "$seeds"
mkdir -p "$seeds" "$corpus" "$artifacts"
if [ "$name" = dma_log ]; then
	# Input layout (see src/dma_log.rs): byte 0 picks the igb (even) or the page
	# set (odd). Seeds: an igb whose queue 0 is set up, posted, receives and is
	# reported, with the device acting during the reports; a few page set steps.
	printf '\x00\x00\x00\x00\x03\x00\x08\x02\x0a\x22\x03\x01\x00\x01\x00\x00\x05\x00\x05\x01\x09\x00\x0c\x00\x09\x00\xc0\x05\xc1\x05\xc0\x05\xff\x05' >"$seeds/igb"
	printf '\x01\x00\x01\x03\x10\x40\x05\x04\x00\x40\x00\x02\x00\x30' >"$seeds/ranges"
elif [ "$name" = stream_decode ]; then
	# Input layout (see src/stream.rs): a byte choosing the piece size, then the
	# stream. The identity is FUZZ_IDENTITY of src/stream.rs; the sections are
	# the igb personality's (drivers/vfio/pci/rvfio/personality/igb.rs).
	python3 - "$seeds" <<'PY'
import pathlib, struct, sys, zlib

seeds = pathlib.Path(sys.argv[1])
IDENTITY = struct.pack("<IHHHHB3xQ", 1, 0x8086, 0x10C9, 0x8086, 0x0000, 1, 0x0123456789ABCDEF)
SECTIONS = ((0x001, 8), (0x100, 579 * 4), (0x101, 7 * 4))


def record(kind, fill):
    body = b"".join(struct.pack("<HHI", sid, 0, size) + bytes([fill]) * size
                    for sid, size in SECTIONS)
    size = 48 + len(body) + 4
    head = b"RVFIOMIG" + struct.pack("<HHHH", 1, 48, kind, len(SECTIONS)) + IDENTITY
    head += struct.pack("<II", size, 0)
    data = head + body
    return data + struct.pack("<I", zlib.crc32(data))


final = record(2, 0)
(seeds / "final").write_bytes(bytes([255]) + final)
(seeds / "precopy-final").write_bytes(bytes([16]) + record(1, 0) + final)
(seeds / "truncated").write_bytes(bytes([0]) + final[:-1])
PY
else
# Input layout (see Cfg::from_fuzz_input in src/lib.rs): a flags byte (bit 0:
# 4096-byte config space), a selector byte for unreadable dwords, then config
# space from offset 0.
python3 - "$repo/tests/data/config-space" "$seeds" <<'PY'
import pathlib, re, struct, sys

data, seeds = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
line_re = re.compile(r"^\s*([0-9a-fA-F]+):((?:\s+[0-9a-fA-F]{2})+)\s*$")


def emit(name, space):
    express = len(space) > 0x100
    body = bytes(space[: 0x1000 if express else 0x100]).rstrip(b"\0")
    (seeds / name).write_bytes(bytes([1 if express else 0, 0]) + body)


for path in sorted(data.glob("*.txt")) if data.is_dir() else []:
    spaces, space = [], bytearray()
    for line in path.read_text(errors="replace").splitlines():
        m = line_re.match(line)
        if not m:
            continue
        offset = int(m.group(1), 16)
        if offset == 0 and space:  # the next device's dump
            spaces.append(space)
            space = bytearray()
        values = bytes(int(b, 16) for b in m.group(2).split())
        end = min(offset + len(values), 0x1000)
        if offset < end:
            space.extend(b"\0" * max(0, end - len(space)))
            space[offset:end] = values[: end - offset]
    if space:
        spaces.append(space)
    for i, space in enumerate(spaces):
        emit(f"{path.stem}-{i}", space)

# ATS at 0x100 -> PASID at 0x140 -> PRI at 0x104, so that the fuzzer starts
# from a chain however empty the data directory is.
space = bytearray(0x1000)
for offset, cap_id, next_ptr in ((0x100, 0x0F, 0x140), (0x140, 0x1B, 0x104), (0x104, 0x13, 0)):
    struct.pack_into("<I", space, offset, cap_id | 1 << 16 | next_ptr << 20)
emit("synthetic-translation", space)
PY
fi

# --- run ---------------------------------------------------------------------
log=$logs/$name.log
status=0
started=$(date +%s)
"$bin" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$artifacts/" \
	"$corpus" "$seeds" >"$log" 2>&1 || status=$?

elapsed=$(($(date +%s) - started))

# libFuzzer prints its final stats on a crash too, but not "Done N runs in S
# second(s)": then the time is the run's wall time.
secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)/\1/p' "$log" | tail -1)
cov=$(sed -n 's/^#[0-9].* cov: \([0-9]*\) .*/\1/p' "$log" | tail -1)
mapfile -t found < <(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log")
crashes=${#found[@]}

if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
	# The panic message and libFuzzer's report, without the status lines.
	grep -v '^#[0-9]' "$log" | tail -40
	for artefact in "${found[@]}"; do
		echo "artefact: $artefact (reproduce: $bin $artefact)"
	done
fi
echo "fuzz $name: ${secs:-$elapsed} s, ${execs:-?} executions, ${cov:-?} coverage, $crashes crashes"
if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
	echo "fuzz $name: libFuzzer exited with status $status (log: $log)"
fi
[ "$status" -eq 0 ] && [ "$crashes" -eq 0 ]
