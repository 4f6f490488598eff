#!/bin/bash
# The whole rvfio-pci test suite: `make check` runs it, .ci/run calls that.
#
# Builds what is missing (the two test kernels in their cache, the module for
# each, the module the DKMS way against Debian's stock kernel in a trixie root,
# selftests, guest programs, the vfio-user fixture and QEMU 11), then
# runs: rustfmt, clippy and checkpatch, host cargo tests of the pure code and
# of the fixture and a bounded fuzz run, and in the VM: KUnit suites (parsed
# with the kernel's kunit.py), the binding lifecycle, the PASID/ATS feature,
# the fixture devices on QEMU 11 (IOMMU PASID support off, then on, then
# hostile ones), migration and the mmap rule, the uAPI fuzzer, teardown under
# load (unbind, rmmod, FLR, removal mid-migration), and vfio_pci_device_test on both drivers on
# the "debug" kernel (lockdep, KASAN); the whole parity run with in-tree
# vfio-pci and the benchmarks on the "fast" kernel; lifecycle, PASID/ATS,
# migration and DMA-mapping parity on Debian's stock kernel (see
# Documentation/testing.rst).
# Ends with "N passed, M failed".
#
# Environment:
#   KDIR                run everything on this kernel tree instead of the cached ones
#   RVFIO_QUICK=1       filter the long parity cases (development loop)
#   RVFIO_PARITY_MODES  vfio_pci_driver_test's IOMMU modes in the parity run
#                       (default "iommufd vfio_type1_iommu vfio_type1v2_iommu";
#                       empty: all five)
#   RVFIO_FUZZ_SECONDS  length of each fuzz target's run (default 10; `make fuzz`
#                       runs each for 600 s)
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logs=$repo/build/logs
passed=0
failed=0
skipped=0
failures=()

say() { printf '==> %s\n' "$*"; }

record() { # name pass|fail|skip [why]
	case $2 in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1${3:+: $3}") ;;
	esac
	printf '%-6s %s%s\n' "$(echo "$2" | tr a-z A-Z)" "$1" "${3:+ ($3)}"
}

finish() {
	if [ ${#failures[@]} -ne 0 ]; then
		say "failed:"
		printf '  %s\n' "${failures[@]}"
	fi
	if [ "$skipped" -ne 0 ]; then
		echo "$passed passed, $failed failed, $skipped skipped"
	else
		echo "$passed passed, $failed failed"
	fi
	[ "$failed" -eq 0 ]
	exit
}

fatal() { record "$1" fail; say "cannot go on: $1"; finish; }

# record_results [PREFIX]: records the lines "RESULT NAME PASS" and
# "RESULT NAME FAIL[ (WHY)]" of stdin as PREFIXNAME (stdin must not be a
# pipe: record counts in this shell).
record_results() {
	local result verdict why
	while read -r result verdict why; do
		why=${why#(} why=${why%)}
		record "${1:-}$result" "$([ "$verdict" = PASS ] && echo pass || echo fail)" "$why"
	done < <(sed -n 's/^RESULT \([^ ]*\) \(PASS\|FAIL\)/\1 \2/p')
}

mkdir -p "$logs"
start=$(date +%s)

# --- build -------------------------------------------------------------------
say "kernels"
if [ -n "${KDIR:-}" ]; then
	kdir_debug=$KDIR
	kdir_fast=$KDIR
else
	kdir_debug=$(bash "$repo/scripts/build-kernel.sh" debug) || fatal build_kernel_debug
	kdir_fast=$(bash "$repo/scripts/build-kernel.sh" fast) || fatal build_kernel_fast
fi
say "debug kernel: $kdir_debug"
say "fast kernel: $kdir_fast"
src=$(readlink -f "$kdir_debug/source")

# build_module NAME KDIR: the module for one kernel, with clippy, in build/NAME.
build_module() {
	local out=$repo/build/$1 log=$logs/$1.log
	rm -rf "$out"
	if make -C "$repo" KDIR="$2" MO="$out" CLIPPY=1 modules >"$log" 2>&1; then
		record "build_module:$1" pass
	else
		tail -40 "$log"
		fatal "build_module:$1"
	fi
	if grep -qE '^(warning|error)' "$log"; then
		grep -E '^(warning|error)' -A8 "$log"
		record "clippy:$1" fail
	else
		record "clippy:$1" pass
	fi
}
say "module (clippy)"
build_module module-debug "$kdir_debug"
ko_debug=$repo/build/module-debug/drivers/vfio/pci/rvfio/rvfio_pci.ko
if [ "$kdir_fast" = "$kdir_debug" ]; then
	ko_fast=$ko_debug
else
	build_module module-fast "$kdir_fast"
	ko_fast=$repo/build/module-fast/drivers/vfio/pci/rvfio/rvfio_pci.ko
fi

# The alias userspace uses to find vfio-pci variant drivers: the same as
# vfio-pci's (built in here, so read from modules.builtin.modinfo).
ours=$(modinfo -F alias "$ko_debug")
theirs=$(tr '\0' '\n' <"$kdir_debug/modules.builtin.modinfo" 2>/dev/null | sed -n 's/^vfio_pci\.alias=//p')
if [ -z "$theirs" ]; then
	record module_alias skip
elif [ "$ours" = "$theirs" ]; then
	record module_alias pass
else
	say "module alias '$ours', vfio-pci has '$theirs'"
	record module_alias fail
fi

# Debian's stock kernel, built for the DKMS way in the cached trixie root with
# its rustc 1.85.1 (tests/stock-dkms.sh: the build, its vermagic, and the
# refusals of a wrong rustc and a missing source package). The module is left
# at build/module-stock/rvfio_pci.ko. A fresh machine makes the root and
# regenerates the kernel's Rust artifacts once (about 5 min); later runs
# reuse both.
say "module on Debian's stock kernel, the DKMS way"
ko_stock=$repo/build/module-stock/rvfio_pci.ko
bash "$repo/tests/stock-dkms.sh" "$ko_stock" >"$logs/stock-dkms.out" 2>&1
grep -v '^RESULT ' "$logs/stock-dkms.out"
record_results <"$logs/stock-dkms.out"
grep -q '^RESULT build_module:stock-dkms ' "$logs/stock-dkms.out" ||
	record build_module:stock-dkms fail "no result"

say "rustfmt"
mapfile -t rust_files < <(find "$repo/drivers" "$repo/tests/host/src" "$repo/tests/fuzz/src" \
	"$repo/tests/fuzz/fuzz_targets" "$repo/tests/fixture/src" "$repo/tests/fixture/tests" \
	"$repo/tools/vpci-description/src" "$repo/tools/rvfio-vpci/src" \
	-name '*.rs' ! -name '*_generated.rs')
if rustfmt --edition 2021 --config-path "$src/.rustfmt.toml" --check "${rust_files[@]}" >"$logs/rustfmt.log" 2>&1; then
	record rustfmt pass
else
	head -40 "$logs/rustfmt.log"
	record rustfmt fail
fi

say "checkpatch (C sources)"
mapfile -t c_files < <(find "$repo/drivers" "$repo/include" "$repo/samples" "$repo/tests/progs" "$repo/tests/selftests" \
	"$repo/tests/nested" "$repo/tests/qemu" -name '*.[ch]')
if perl "$src/scripts/checkpatch.pl" --no-tree --quiet -f "${c_files[@]}" >"$logs/checkpatch.log" 2>&1; then
	record checkpatch pass
else
	head -40 "$logs/checkpatch.log"
	record checkpatch fail
fi

say "selftests and guest programs"
KDIR=$kdir_debug bash "$repo/tests/build-selftests.sh" >/dev/null 2>"$logs/selftests-build.log" || {
	tail -20 "$logs/selftests-build.log"
	fatal build_selftests
}
KDIR=$kdir_debug bash "$repo/tests/build-progs.sh" >/dev/null || fatal build_progs

# The vfio-user fixture's server, and QEMU 11 to serve it to (cached root).
say "fixture and QEMU 11"
fixture_target=${RVFIO_CACHE:-/var/cache/rvfio-pci}/fixture-target
if cargo build --manifest-path "$repo/tests/fixture/Cargo.toml" \
	--target-dir "$fixture_target" >"$logs/fixture-build.log" 2>&1; then
	record build_fixture pass
else
	tail -30 "$logs/fixture-build.log"
	record build_fixture fail
fi
if cargo clippy --all-targets --manifest-path "$repo/tests/fixture/Cargo.toml" \
	--target-dir "$fixture_target" -- -D warnings >"$logs/fixture-clippy.log" 2>&1; then
	record clippy:fixture pass
else
	grep -E '^(warning|error)' -A8 "$logs/fixture-clippy.log" | head -40
	record clippy:fixture fail
fi
# The description format's library and rvfio-vpci (Documentation/vpci.rst);
# tests/build-progs.sh built the tool's static binary for the guest.
vpci_target=${RVFIO_CACHE:-/var/cache/rvfio-pci}/vpci-target
for crate in vpci-description rvfio-vpci; do
	if cargo clippy --all-targets --manifest-path "$repo/tools/$crate/Cargo.toml" \
		--target-dir "$vpci_target" -- -D warnings >"$logs/$crate-clippy.log" 2>&1; then
		record "clippy:$crate" pass
	else
		grep -E '^(warning|error)' -A8 "$logs/$crate-clippy.log" | head -40
		record "clippy:$crate" fail
	fi
done
bash "$repo/scripts/qemu11.sh" >/dev/null 2>"$logs/qemu11.log" || {
	tail -20 "$logs/qemu11.log"
	record build_qemu11 fail
}

# --- host --------------------------------------------------------------------
# cargo_results PREFIX LOG COMMAND...: runs a cargo test COMMAND into LOG and
# records each case it reports as PREFIX:NAME; a run that fails or reports no
# case also fails PREFIX_cargo_test.
cargo_results() {
	local prefix=$1 log=$2 status cases=0 name verdict
	shift 2
	"$@" >"$log" 2>&1
	status=$?
	while read -r name verdict; do
		record "$prefix:$name" "$([ "$verdict" = ok ] && echo pass || echo fail)"
		cases=$((cases + 1))
	done < <(sed -n 's/^test \(.*\) \.\.\. \(ok\|FAILED\)$/\1 \2/p' "$log")
	if [ "$status" -ne 0 ] || [ "$cases" -eq 0 ]; then
		tail -30 "$log"
		record "${prefix}_cargo_test" fail
	fi
}

say "host cargo test (pure code)"
cargo_results host "$logs/cargo-test.log" cargo test --manifest-path "$repo/tests/host/Cargo.toml"

# The fixture's own tests: its description format, the config space and the
# oracle it prints, and its server end to end. The driver's files it borrows
# have their suites counted above.
say "host cargo test (fixture)"
cargo_results fixture-host "$logs/fixture-test.log" cargo test \
	--manifest-path "$repo/tests/fixture/Cargo.toml" --target-dir "$fixture_target" \
	-- --skip pci_caps:: --skip config_view::

# The description format, and rvfio-vpci's derive, check and diff on the
# fixture's devices (the driver's suites it compiles in are counted above).
say "host cargo test (vpci)"
cargo_results vpci-description-host "$logs/vpci-description-test.log" cargo test \
	--manifest-path "$repo/tools/vpci-description/Cargo.toml" --target-dir "$vpci_target"
cargo_results rvfio-vpci-host "$logs/rvfio-vpci-test.log" cargo test \
	--manifest-path "$repo/tools/rvfio-vpci/Cargo.toml" --target-dir "$vpci_target" \
	-- --skip config:: --skip bytes::

# config_walk: capability walks, PASID hiding, layout, payload; stream_decode:
# the migration stream decoder and the igb personality's reading of records;
# dma_log: the igb's DMA tracker against a model of QEMU's igb, and the dirty
# log's page set against a bitmap.
for target in config_walk stream_decode dma_log; do
	say "fuzz $target"
	if bash "$repo/tests/fuzz/run.sh" "${RVFIO_FUZZ_SECONDS:-10}" "$target" \
		>"$logs/fuzz-$target.log" 2>&1; then
		record "fuzz:$target" pass
	else
		tail -40 "$logs/fuzz-$target.log"
		record "fuzz:$target" fail
	fi
	grep '^fuzz ' "$logs/fuzz-$target.log"
done

# --- guest -------------------------------------------------------------------
# run_guest NAME KDIR KO COMMAND...: boots the VM on that kernel with that
# module (COMMAND is run-guest SCRIPT, or a wrapper that ends in run-guest),
# counts the guest script's RESULT lines, and the VM itself (script status, no
# kernel report) as one more result.
guest=$repo/tests/qemu/run-guest
# last_boot NAME: the VM's output from its last boot on (run-guest boots a VM
# once more after a platform fault; the first boot's results do not count).
last_boot() {
	awk '/^run-guest: booting / { n++ } { line[n] = line[n] $0 "\n" } END { printf "%s", line[n] }' \
		"$logs/$1.out"
}
run_guest() {
	local name=$1 log=$logs/$1.console
	say "VM: $name"
	# The serial console ends lines with CR LF; the parsers want LF.
	KDIR=$2 RVFIO_KO=$3 RVFIO_VM_LOG=$log "${@:4}" 2>&1 |
		tr -d '\r' >"$logs/$name.out"
	local status=${PIPESTATUS[0]}
	record_results "$name:" < <(last_boot "$name")
	grep '^run-guest: verdict' "$logs/$name.out"
	if [ "$status" -eq 0 ]; then
		record "$name:vm" pass
	else
		tail -60 "$logs/$name.out"
		record "$name:vm" fail
	fi
	return "$status"
}

# Only the kunit VM runs the module's KUnit suites as it loads (about 1.2 s a
# load on the debug kernel); the others boot with kunit.enable=0.
export RVFIO_KUNIT=0
RVFIO_KUNIT=1 run_guest kunit "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/kunit.sh"
# Each suite's debugfs results are a KTAP document of their own, and kunit.py
# parses only the first document of a file: join them into one, numbered.
python3 - <(last_boot kunit) >"$logs/kunit.ktap" <<'PY'
import re, sys
suites, lines = [], None
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("RVFIO-KTAP-BEGIN"):
        lines = []
    elif line.startswith("RVFIO-KTAP-END"):
        suites.append(lines)
        lines = None
    elif lines is not None:
        lines.append(line)
if suites:
    print("KTAP version 1")
    print(f"1..{len(suites)}")
for number, suite in enumerate(suites, 1):
    for line in suite:
        if line in ("KTAP version 1", "1..1"):
            continue
        print(re.sub(r"^(not ok|ok) 1 ", rf"\1 {number} ", line))
PY
if [ -s "$logs/kunit.ktap" ] &&
	python3 "$src/tools/testing/kunit/kunit.py" parse --json="$logs/kunit.json" \
		"$logs/kunit.ktap" >"$logs/kunit-parse.log" 2>&1; then
	:
else
	cat "$logs/kunit-parse.log" 2>/dev/null | tail -20
	record kunit:parse fail
fi
kunit_cases=0
if [ -s "$logs/kunit.json" ]; then
	while read -r name verdict; do
		record "kunit:$name" "$verdict"
		kunit_cases=$((kunit_cases + 1))
	done < <(python3 - "$logs/kunit.json" <<'PY'
import json, sys
def walk(t, prefix):
    for sub in t.get("sub_groups", []):
        walk(sub, prefix + sub["name"] + ".")
    for case in t.get("test_cases", []):
        status = case["status"]
        verdict = {"PASS": "pass", "SKIP": "skip"}.get(status, "fail")
        print(prefix + case["name"], verdict)
walk(json.load(open(sys.argv[1])), "")
PY
)
fi

# A module whose suites vanished must not look like a pass.
[ "$kunit_cases" -gt 0 ] || record kunit:cases fail

run_guest lifecycle "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/lifecycle.sh"
run_guest pasid-ats "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/pasid_ats.sh"
# The vfio-user fixture devices on QEMU 11 (Documentation/fixture.rst), with
# the IOMMU's PASID support off, then on.
run_guest fixture "$kdir_debug" "$ko_debug" "$repo/tests/fixture/vm.sh"
run_guest fixture-pasid "$kdir_debug" "$ko_debug" "$repo/tests/fixture/vm.sh" --pasid-bits 20
{ last_boot fixture; last_boot fixture-pasid; } | grep '^TABLE'
# What rvfio-vpci's checks took (Documentation/vpci.rst).
last_boot fixture-pasid | grep '^TIME'
# Hostile fixture devices (Documentation/fixture.rst, "Hostile modes"): the
# modes a guest sees through QEMU, and loop and ext-loop for the pointer
# modes, which QEMU's emulated chains hide (the host tests walk those).
# all-ones is left out: each FLR then waits 65 s in the PCI core
# (Documentation/testing.rst).
hostile=$repo/tests/fixture/devices/hostile
run_guest fixture-hostile "$kdir_debug" "$ko_debug" "$repo/tests/fixture/vm.sh" \
	--script "$repo/tests/vm/hostile.sh" "$hostile/flapping.desc" \
	"$hostile/pasid-moves-reads.desc" "$hostile/pasid-moves-write.desc" \
	"$hostile/bar-error.desc" "$hostile/bar-stall.desc" "$hostile/random.desc" \
	"$hostile/loop.desc" "$hostile/ext-loop.desc"
last_boot fixture-hostile | grep '^TIME'

# About a minute; a hang shows as a hung-task report within 30 s.
RVFIO_VM_TIMEOUT=600 run_guest migration "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/migration.sh"
last_boot migration | grep '^TIME'
# Unbind, rmmod, FLR and removal while users are mid-migration.
RVFIO_KERNEL_CMDLINE_EXTRA=kmemleak=on RVFIO_VM_TIMEOUT=600 \
	run_guest teardown "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/teardown.sh"

# The uAPI fuzzer, bounded (Documentation/testing.rst, "uAPI fuzzer"): about
# 100,000 operations, 70 s of the VM's time; a hang shows as a hung-task report.
RVFIO_VM_TIMEOUT=600 run_guest uapi-fuzz "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/uapi_fuzz.sh"
last_boot uapi-fuzz | grep -E '^(FUZZ total|FUZZ diff|# .* operations in)'

# record_parity NAME: per-case parity from the PARITY lines of a run. A case
# passes when rvfio-pci passes it; it fails when vfio-pci passes it and
# rvfio-pci does not; a case neither passes is reported as skipped.
record_parity() {
	# grep reads to the end: -q would close the pipe at the first match, and
	# last_boot's SIGPIPE would fail the pipeline (pipefail).
	if ! last_boot "$1" | grep '^PARITY ' >/dev/null; then
		record "$1:results" fail
		return
	fi
	while read -r test verdict; do
		record "$1:$test" "$verdict"
	done < <(awk '$1 == "PARITY" {
			key = $3 "." $4; seen[key] = 1
			if ($2 == "rvfio-pci") cand[key] = $5; else ref[key] = $5
		}
		END {
			for (k in seen) {
				if (cand[k] == "pass") verdict = "pass"
				else if (ref[k] == "pass") verdict = "fail"
				else verdict = "skip"
				print k, verdict
			}
		}' <(last_boot "$1") | sort)
}

# Under lockdep and KASAN: the device test (config space, BARs, MSI/MSI-X,
# reset) on both drivers.
PARITY_BINS=vfio_pci_device_test run_guest parity-debug "$kdir_debug" "$ko_debug" "$guest" "$repo/tests/vm/parity.sh"
record_parity parity-debug

# The parity run on the fast kernel: vfio_pci_device_test, and
# vfio_pci_driver_test in the iommufd, type1 and type1v2 modes.
# RVFIO_PARITY_MODES= (empty) adds iommufd's two compat modes, whose
# container emulation lives in the core and calls the driver as iommufd does
# (about 75 s more).
export PARITY_QUICK=${RVFIO_QUICK:-0}
export PARITY_MODES=${RVFIO_PARITY_MODES-iommufd vfio_type1_iommu vfio_type1v2_iommu}
run_guest parity "$kdir_fast" "$ko_fast" "$guest" "$repo/tests/vm/parity.sh"
record_parity parity

# Debian's stock kernel (Documentation/distribution-kernels.rst): its own
# vmlinuz and VFIO modules, the module built for it with its rustc, devices
# through their groups (no iommufd there); lifecycle, PASID/ATS, migration and
# the mmap rule, and the driver test at parity with its own vfio-pci.
if ! stock_kernel=$(bash "$repo/scripts/stock-kernel-image.sh" 2>"$logs/stock-image.log"); then
	cat "$logs/stock-image.log"
	record build_stock_image fail
elif [ ! -f "$ko_stock" ]; then
	record stock:vm fail "no module built the DKMS way"
else
	RVFIO_STOCK_KERNEL=$stock_kernel RVFIO_VM_TIMEOUT=900 run_guest stock "$kdir_fast" "$ko_stock" \
		"$guest" --add "$repo/tests/vm:/usr/lib/rvfio-tests/vm" "$repo/tests/vm/stock.sh"
	record_parity stock
fi

# An unmodified QEMU (Debian's QEMU 10, copied into the VM) passes the igbs
# through to nested guests and migrates them (Documentation/qemu.rst).
if bash "$repo/tests/nested/bundle.sh" "$repo/build/nested-qemu" >/dev/null 2>"$logs/nested-qemu.log"; then
	RVFIO_VM_TIMEOUT=1800 run_guest qemu "$kdir_debug" "$ko_debug" "$guest" \
		--add "$repo/build/nested-qemu:/opt/qemu" "$repo/tests/vm/qemu.sh"
	last_boot qemu | grep '^FIGURE'
else
	cat "$logs/nested-qemu.log"
	record build_nested_qemu fail
fi

# Figures, not tests, on the fast kernel, few rounds (make bench runs many;
# Documentation/performance.rst): each migration arc against a device reset,
# every path a VMM uses on rvfio-pci against vfio-pci, the mapping tracker's
# scaling; then the paths on a fixture device with PASID, where rvfio-pci's
# hiding runs, against vfio-pci on the same description (QEMU 11).
RVFIO_VM_TIMEOUT=900 run_guest bench "$kdir_fast" "$ko_fast" "$guest" "$repo/tests/vm/bench.sh"
last_boot bench | grep '^BENCH'
RVFIO_PATHS_ROUNDS=3 RVFIO_GUEST_ENV=RVFIO_PATHS_ROUNDS RVFIO_VM_TIMEOUT=900 \
	run_guest fixture-bench "$kdir_fast" "$ko_fast" "$repo/tests/fixture/vm.sh" \
	--pasid-bits 20 --script "$repo/tests/vm/fixture_bench.sh" \
	"$repo/tests/fixture/devices/bench-pasid.desc" "$repo/tests/fixture/devices/bench-pasid.desc"
last_boot fixture-bench | grep '^BENCH'

say "wall time $(($(date +%s) - start)) s; logs in $logs"
finish
