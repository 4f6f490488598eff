# SPDX-License-Identifier: GPL-2.0
#
# rvfio-pci top-level entry points. Kbuild reads ./Kbuild; this file is for people.
#
#   make run       set up, build everything, boot the VM, show each feature working
#                  (README, first screen), end with a summary with figures
#   make check     set up, build everything, run the whole test suite
#   make modules   build rvfio_pci.ko (against KDIR, or the cached test kernel)
#   make dkms-install    install the module through DKMS for the running kernel
#                  (KVER= another) and its updates: the sources go to
#                  /usr/src/rvfio-pci-<version> (README, "Installing on your
#                  distribution's kernel"); make dkms-uninstall removes it all
#   make deps      install the toolchain and packages (scripts/setup.sh)
#   make kernel    build the cached test kernel (scripts/build-kernel.sh)
#   make CLIPPY=1  build the module with clippy
#   make MO=DIR    put the module's objects in DIR (default build/module; one per kernel)
#   make host-test cargo test of the pure code on the host
#   make bench     the benchmarks with many rounds (make check runs them short)
#   make fuzz      the long fuzz campaign (make check runs 10 s a target)
#   make fuzz-uapi the uAPI fuzzer's long campaign in the VM (make check runs 100k
#                  operations; UAPI_FUZZ_SEED=N reruns a seed, UAPI_FUZZ_OPS=N sizes it)
#   make stall-soak how often TCG stalls the test VM: the stock-kernel VM booted
#                  SOAK_RUNS times (RVFIO_QEMU=qemu-system-x86_64 for QEMU 10)
#
# KDIR=/path/to/kernel/build builds against another Rust-enabled kernel build tree.

SHELL := /bin/bash
# The LLVM suffix for clang-built kernels (the project's test kernels). A
# GCC-built kernel (a distribution's) is built for without LLVM: the module's
# C and bindgen flags then come from GCC's, as the kernel's own Rust does.
LLVM ?= -19

# The kernel build tree: the user's KDIR, else the cached test kernel (built on first use).
kdir = $${KDIR:-$$(bash $(CURDIR)/scripts/build-kernel.sh)}

# Objects never go to the source tree, so one tree builds for several kernels.
MO ?= build/module

.PHONY: all modules deps kernel run check host-test fuzz fuzz-uapi bench stall-soak clean \
	dkms-install dkms-uninstall

all: modules

deps:
	bash scripts/setup.sh

kernel: deps
	@bash scripts/build-kernel.sh

modules:
	set -e; k=$(kdir); mkdir -p $(MO); llvm=; \
	if grep -q '^CONFIG_CC_IS_CLANG=y' "$$k/.config"; then llvm=LLVM=$(LLVM); fi; \
	$(MAKE) -C "$$k" M=$(CURDIR) MO=$(abspath $(MO)) $$llvm \
		$(if $(CLIPPY),CLIPPY=1) modules

# On a user's host, with its own packages: not `deps`, which sets up the
# project's test machine.
dkms-install:
	bash scripts/dkms.sh install

dkms-uninstall:
	bash scripts/dkms.sh uninstall

host-test:
	cargo test --manifest-path tests/host/Cargo.toml
	cargo test --manifest-path tools/vpci-description/Cargo.toml
	cargo test --manifest-path tools/rvfio-vpci/Cargo.toml -- --skip config:: --skip bytes::

# The long form of the fuzz campaign make check runs for 10 s a target.
FUZZ_SECONDS ?= 600
fuzz:
	set -e; for target in config_walk stream_decode dma_log; do \
		bash tests/fuzz/run.sh $(FUZZ_SECONDS) $$target; \
	done

# The long form of the uAPI fuzzer make check runs bounded (tests/fuzz-uapi.sh).
fuzz-uapi: deps
	bash tests/fuzz-uapi.sh

# The long form of the benchmarks make check runs with few rounds.
BENCH_ROUNDS ?= 50
bench: deps
	BENCH_ROUNDS=$(BENCH_ROUNDS) bash tests/bench.sh

# How often the platform stalls the test VM, over many boots (tests/stall-soak.sh).
SOAK_RUNS ?= 10
stall-soak: deps
	SOAK_RUNS=$(SOAK_RUNS) bash tests/stall-soak.sh

run: deps
	bash tests/demo.sh

check: deps
	bash tests/run-all.sh

clean:
	rm -rf build tests/host/target
