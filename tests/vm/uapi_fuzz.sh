#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The uAPI fuzzer in the guest (tests/progs/uapi_fuzz.c, Documentation/testing.rst
# "uAPI fuzzer"): a seeded single-thread run on an igb bound to rvfio-pci, a
# threaded run through a group and a type1 container (which offers DMA logging),
# and a differential run against the twin igb bound to vfio-pci.
#
# Environment (from the host through RVFIO_GUEST_ENV):
#   UAPI_FUZZ_SEED         seed of the single-thread and differential runs
#                          (default 1; the threaded run takes seed + 1000)
#   UAPI_FUZZ_OPS          operations of the single-thread run (default 60000)
#   UAPI_FUZZ_THREAD_OPS   operations of the threaded run (default 20000)
#   UAPI_FUZZ_THREADS      threads of the threaded run (default 2)
#   UAPI_FUZZ_CONTAINER    1 (default): the threaded run opens the device through
#                          a container; 0: through its cdev, as the others
#   UAPI_FUZZ_DIFF_OPS     operations of the differential run (default 20000)
. /usr/lib/rvfio-tests/lib.sh
bin=/usr/lib/rvfio-tests
seed=${UAPI_FUZZ_SEED:-1}

fuzz() { # name args...: one run, its RESULT lines prefixed with the run's name
	local name=$1 status
	shift
	# Streamed, so that a run the kernel hangs still shows how far it got.
	{
		"$bin/uapi_fuzz" "$@" 2>&1
		echo $? >/tmp/fuzz.status
	} | sed "s/^RESULT uapi_fuzz_/RESULT uapi_fuzz_${name}_/"
	status=$(cat /tmp/fuzz.status)
	result "uapi_fuzz_${name}_exit" "$([ "$status" -eq 0 ] && echo pass || echo fail)" \
		"status $status"
}

check modprobe modprobe rvfio_pci
check bind_igb bind_to "$RVFIO_IGB0" rvfio-pci

start=$(date +%s)
fuzz single --seed "$seed" --ops "${UAPI_FUZZ_OPS:-60000}" "$RVFIO_IGB0"
echo "# single-thread run: $(($(date +%s) - start)) s"

start=$(date +%s)
container=--container
[ "${UAPI_FUZZ_CONTAINER:-1}" = 1 ] || container=
fuzz threads --seed $((seed + 1000)) --threads "${UAPI_FUZZ_THREADS:-2}" $container \
	--ops "${UAPI_FUZZ_THREAD_OPS:-20000}" "$RVFIO_IGB0"
echo "# threaded run: $(($(date +%s) - start)) s"

check bind_twin bind_to "$RVFIO_IGB1" vfio-pci
start=$(date +%s)
fuzz diff --seed "$seed" --ops "${UAPI_FUZZ_DIFF_OPS:-20000}" --diff "$RVFIO_IGB1" \
	"$RVFIO_IGB0"
echo "# differential run: $(($(date +%s) - start)) s"

for bdf in "$RVFIO_IGB0" "$RVFIO_IGB1"; do
	unbind "$bdf"
done
check rmmod rmmod rvfio_pci
exit "$RVFIO_FAILED"
