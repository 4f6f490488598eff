#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# rvfio-pci built the DKMS way against Debian's stock 7.3 kernel with its
# rustc 1.85.1, in the cached trixie root (scripts/stock-kernel-artifacts.sh):
# what `make dkms-install` does on a user's host, less the install into the
# host's /lib/modules. make check (tests/run-all.sh) runs it and counts its
# lines "RESULT NAME PASS|FAIL [(WHY)]":
#   stock-dkms:refuses-wrong-rustc     a rustc other than the kernel's, first
#                                      in PATH, fails the build with the
#                                      message that says so
#   stock-dkms:refuses-missing-source  so does linux-source-7.3 missing (hidden
#                                      from dpkg-query only)
#   build_module:stock-dkms            dkms add and build succeed
#   stock-dkms:vermagic                the module's vermagic is the kernel's
#                                      and DKMS signed it
# The refusals come first: they must stop the build before the artifacts'
# regeneration, and a build that went through would replace the real one.
#
# Usage: stock-dkms.sh OUT   leaves the module, uncompressed, at OUT
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
stock=$repo/scripts/stock-kernel-artifacts.sh
out=${1:?usage: $0 OUT}
kver=${STOCK_KVER:-7.3.4+deb13-amd64}
path=/usr/sbin:/usr/bin:/sbin:/bin

result() { # NAME PASS|FAIL [WHY]
	echo "RESULT $1 $2${3:+ ($3)}"
}

# refusal NAME EXPECTED COMMAND...: COMMAND (run in the root) must fail and
# say EXPECTED.
refusal() {
	local name=$1 expected=$2 output status
	shift 2
	output=$(bash "$stock" exec "$@" 2>&1)
	status=$?
	printf '%s\n' "$output" | grep -m1 'kernel-rust-artifacts: error' | sed 's/^/  /'
	if [ "$status" -eq 0 ]; then
		result "$name" FAIL "the build went through"
	elif ! printf '%s\n' "$output" | grep -qF -- "$expected"; then
		printf '%s\n' "$output" | tail -20
		result "$name" FAIL "no message '$expected'"
	else
		result "$name" PASS
	fi
	# A refused build leaves neither a DKMS version nor its sources.
	bash "$stock" exec sh -c '! ls -d /var/lib/dkms/rvfio-pci/0.0.refused* /usr/src/rvfio-pci-0.0.refused* 2>/dev/null' ||
		result "$name:cleanup" FAIL "a refused build left files behind"
}

# A rustc that answers another version, first in PATH.
refusal stock-dkms:refuses-wrong-rustc \
	"rustc is 'rustc 1.99.0 (fake)' (/rvfio/fake-rustc/rustc) but $kver was built with 'rustc 1.85.1" \
	sh -c 'mkdir -p /rvfio/fake-rustc &&
		printf "#!/bin/sh\necho \"rustc 1.99.0 (fake)\"\n" >/rvfio/fake-rustc/rustc &&
		chmod +x /rvfio/fake-rustc/rustc &&
		exec env PATH=/rvfio/fake-rustc:'"$path"' RVFIO_VERSION=0.0.refused.rustc \
			bash /rvfio/src/scripts/dkms.sh install --no-install'

# linux-source-7.3 removed from dpkg's view only: a copy of dpkg's database
# without its entry, which dpkg-query reads through DPKG_ADMINDIR.
# shellcheck disable=SC2016 # the variables are the root's shell's
refusal stock-dkms:refuses-missing-source \
	"linux-source-${kver%.*-*} is not installed" \
	sh -c 'db=/rvfio/dpkg-without-source && rm -rf $db && mkdir -p $db/updates &&
		awk -v RS= -v ORS="\n\n" "!/^Package: linux-source-/" /var/lib/dpkg/status >$db/status &&
		exec env DPKG_ADMINDIR=$db RVFIO_VERSION=0.0.refused.source \
			bash /rvfio/src/scripts/dkms.sh install --no-install'

log=$(dirname "$out")/stock-dkms.log
mkdir -p "$(dirname "$out")"
rm -f "$out"
start=$SECONDS
if bash "$stock" module "$out" >"$log" 2>&1 && [ -s "$out" ]; then
	result build_module:stock-dkms PASS
	echo "module built the DKMS way in $((SECONDS - start)) s: $out"
else
	tail -40 "$log"
	result build_module:stock-dkms FAIL
	exit 0
fi

# The kernel's vermagic (its release and options), and DKMS's signature.
want="$kver SMP preempt mod_unload"
have=$(modinfo -F vermagic "$out" | sed 's/ *$//')
signer=$(modinfo -F signer "$out")
if [ "$have" != "$want" ]; then
	result stock-dkms:vermagic FAIL "vermagic '$have', the kernel's is '$want'"
elif [ -z "$signer" ]; then
	result stock-dkms:vermagic FAIL "not signed"
else
	echo "vermagic '$have', signed by '$signer'"
	result stock-dkms:vermagic PASS
fi
