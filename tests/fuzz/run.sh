#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Builds the config_walk fuzz target and runs it for SECONDS (default 60).
#
# Usage: tests/fuzz/run.sh [SECONDS]
#
# Stable Rust, no cargo-fuzz: a plain cargo build with the sanitizer-coverage
# flags cargo-fuzz would pass (no AddressSanitizer, which needs nightly; the
# pure code has no unsafe). libfuzzer-sys builds libFuzzer with the system C++
# compiler. Everything goes to tests/fuzz/target/: the build, the corpus
# (corpus/config_walk, kept between runs, plus corpus/seeds, made afresh each
# run from tests/data/config-space/*.txt, lspci -xxxx style hex dumps, and from
# a synthetic chain), crash artefacts (artifacts/config_walk/) and logs
# (logs/build.log, logs/config_walk.log).
#
# Prints one line:
#   fuzz config_walk: <S> s, <N> executions, <C> coverage, <K> crashes
# and exits nonzero when the build fails, the target crashes (the artefact's
# path is printed; rerun it with `<binary> <artefact>`) or libFuzzer fails.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
seconds=${1:-60}
name=config_walk
out=$here/target
logs=$out/logs
corpus=$out/corpus/$name
seeds=$out/corpus/seeds
artifacts=$out/artifacts/$name

case $seconds in
'' | *[!0-9]* | 0)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
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
# Input layout (see Cfg::from_fuzz_input in src/lib.rs): a flags byte (bit 0:
# 4096-byte config space), a selector byte for unreadable dwords, then config
# space from offset 0.
rm -rf "$seeds"
mkdir -p "$seeds" "$corpus" "$artifacts"
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

# --- run ---------------------------------------------------------------------
log=$logs/$name.log
status=0
started=$(date +%s)
"$bin" -max_total_time="$seconds" -max_len=4098 -timeout=10 -rss_limit_mb=2048 \
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
