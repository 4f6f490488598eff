#!/bin/bash
# The whole rvfio-pci test suite: `make check` runs it, .ci/run calls that.
#
# Builds what is missing (test kernel in its cache, module, selftests, guest
# programs), then runs: rustfmt and clippy checks, host cargo tests of the
# pure code, KUnit suites in the guest (parsed with the kernel's kunit.py),
# the binding lifecycle, and parity with in-tree vfio-pci on the upstream VFIO
# selftests. Ends with "N passed, M failed".
#
# Environment:
#   KDIR            build against this kernel tree instead of the cached one
#   RVFIO_QUICK=1   filter the long parity cases (development loop; CI runs all)
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
logs=$repo/build/logs
passed=0
failed=0
skipped=0
failures=()

say() { printf '==> %s\n' "$*"; }

record() { # name pass|fail|skip
	case $2 in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); failures+=("$1") ;;
	esac
	printf '%-6s %s\n' "$(echo "$2" | tr a-z A-Z)" "$1"
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

mkdir -p "$logs"
start=$(date +%s)

# --- build -------------------------------------------------------------------
say "kernel"
KDIR=${KDIR:-$(bash "$repo/scripts/build-kernel.sh")} || fatal build_kernel
export KDIR
say "KDIR=$KDIR"
src=$(readlink -f "$KDIR/source")

say "module (clippy)"
touch "$repo/drivers/vfio/pci/rvfio/rvfio_pci.rs"
if make -C "$repo" CLIPPY=1 modules >"$logs/module.log" 2>&1; then
	record build_module pass
	if grep -qE '^(warning|error)' "$logs/module.log"; then
		grep -E '^(warning|error)' -A8 "$logs/module.log"
		record clippy fail
	else
		record clippy pass
	fi
else
	tail -40 "$logs/module.log"
	fatal build_module
fi

say "rustfmt"
mapfile -t rust_files < <(find "$repo/drivers" "$repo/tests/host/src" -name '*.rs' ! -name '*_generated.rs')
if rustfmt --edition 2021 --config-path "$src/.rustfmt.toml" --check "${rust_files[@]}" >"$logs/rustfmt.log" 2>&1; then
	record rustfmt pass
else
	head -40 "$logs/rustfmt.log"
	record rustfmt fail
fi

say "selftests and guest programs"
bash "$repo/tests/build-selftests.sh" >/dev/null 2>"$logs/selftests-build.log" || {
	tail -20 "$logs/selftests-build.log"
	fatal build_selftests
}
bash "$repo/tests/build-progs.sh" >/dev/null || fatal build_progs

# --- host --------------------------------------------------------------------
say "host cargo test (pure code)"
cargo test --manifest-path "$repo/tests/host/Cargo.toml" >"$logs/cargo-test.log" 2>&1
host_status=$?
while read -r name verdict; do
	record "host:$name" "$([ "$verdict" = ok ] && echo pass || echo fail)"
done < <(sed -n 's/^test \(.*\) \.\.\. \(ok\|FAILED\)$/\1 \2/p' "$logs/cargo-test.log")
[ "$host_status" -eq 0 ] || { tail -30 "$logs/cargo-test.log"; record host_cargo_test fail; }

# --- guest -------------------------------------------------------------------
# run_guest NAME SCRIPT: boots the VM, counts its RESULT lines, and the VM
# itself (script status, no kernel report) as one more result.
run_guest() {
	local name=$1 script=$2 log=$logs/$1.console
	say "VM: $name"
	RVFIO_VM_LOG=$log "$repo/tests/qemu/run-guest" "$script" >"$logs/$name.out" 2>&1
	local status=$?
	while read -r result verdict; do
		record "$name:$result" "$([ "$verdict" = PASS ] && echo pass || echo fail)"
	done < <(sed -n 's/^RESULT \([^ ]*\) \(PASS\|FAIL\).*/\1 \2/p' "$logs/$name.out")
	grep '^run-guest: verdict' "$logs/$name.out"
	if [ "$status" -eq 0 ]; then
		record "$name:vm" pass
	else
		tail -60 "$logs/$name.out"
		record "$name:vm" fail
	fi
	return "$status"
}

run_guest kunit "$repo/tests/vm/kunit.sh"
sed -n '/^RVFIO-KTAP-BEGIN/,/^RVFIO-KTAP-END/p' "$logs/kunit.out" | grep -v '^RVFIO-KTAP-' >"$logs/kunit.ktap"
if [ -s "$logs/kunit.ktap" ] &&
	python3 "$src/tools/testing/kunit/kunit.py" parse --json "$logs/kunit.json" \
		"$logs/kunit.ktap" >"$logs/kunit-parse.log" 2>&1; then
	:
else
	cat "$logs/kunit-parse.log" 2>/dev/null | tail -20
	record kunit:parse fail
fi
if [ -s "$logs/kunit.json" ]; then
	while read -r name verdict; do
		record "kunit:$name" "$verdict"
	done < <(python3 - "$logs/kunit.json" <<'PY'
import json, sys
def walk(t, prefix):
    for sub in t.get("sub_groups", []):
        yield from walk(sub, prefix + sub["name"] + ".")
    for case in t.get("test_cases", []):
        status = case["status"]
        verdict = {"PASS": "pass", "SKIP": "skip"}.get(status, "fail")
        print(prefix + case["name"], verdict)
walk(json.load(open(sys.argv[1])), "")
PY
)
fi

run_guest lifecycle "$repo/tests/vm/lifecycle.sh"

export PARITY_QUICK=${RVFIO_QUICK:-0}
run_guest parity "$repo/tests/vm/parity.sh"
# Per-case parity: a case counts as passed when rvfio-pci passes it, or when
# vfio-pci does not pass it either (then it is reported as skipped).
if grep -q '^PARITY ' "$logs/parity.out"; then
	while read -r test verdict; do
		record "parity:$test" "$verdict"
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
		}' "$logs/parity.out" | sort)
else
	record parity:results fail
fi

say "wall time $(($(date +%s) - start)) s; logs in $logs"
finish
