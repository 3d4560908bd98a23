# SPDX-License-Identifier: GPL-2.0
# btt-rs: the Linux BTT driver as a Rust-for-Linux module.
#
#   make run      build what is missing, boot the guest, create a sector namespace, do I/O
#   make test     every test suite (host and guest), ending "N passed, N failed, N skipped"
#
# Other targets: bench (btt_rs vs C vs raw pmem), core-bench (the BTT core on memory vs memcpy), ndctl-test (ndctl's BTT tests on
# nfit_test; BTT_DRIVER=c|rs), soak (1000 power cuts in JOBS=2 series side by side; BTT_DRIVER=c|rs, CUTS=N,
# POWERCUT_ARGS='--sector-size 512 ...'), fuzz-soak (COUNT=10000 mutated BTT images in btt_rs guests, SEED=N),
# mttcg-boots (BOOTS=50 boots on multi-threaded TCG, 4 vCPUs, counting failures), kcsan (the concurrency suites
# on a KCSAN kernel after a planted race it must catch, printing every race report; a third kernel build), stress-soak (ROUNDS=3000),
# crash-soak (the reorder-model crash simulation with BTT_REORDER_SOAK=1, larger bounds),
# toolchain, kernel, kernel-plain, module, host-test, shell, clean,
# patches (the upstream series in build/patches/), patches-check (make test's suite "patches" alone: apply it to 7.3,
# checkpatch --strict, in-tree CLIPPY=1 build).
# The kernel's own Kbuild reads ./Kbuild, not this file, for `make -C $KDIR M=$PWD`.

SCRIPTS := $(CURDIR)/scripts

.PHONY: kcsan mttcg-boots crash-soak fuzz-soak patches patches-check stress-soak all run test bench core-bench ndctl-test soak toolchain kernel kernel-plain module host-test guest-test shell clean

all: module

run:
	$(SCRIPTS)/run.sh

test: toolchain
	$(CURDIR)/tools/testing/run-tests.sh

# The upstream form: a git format-patch series against Linux 7.3 in build/patches/.
patches:
	$(SCRIPTS)/make-patches.sh

# Applies the series to a copy of the cached tree, runs checkpatch --strict and builds it in-tree.
patches-check: toolchain
	$(CURDIR)/tools/testing/patches/check.sh

bench:
	$(SCRIPTS)/bench.sh

core-bench:
	cd $(CURDIR)/rust && cargo run --release --example core_bench

# The persistence-model crash simulation with its larger bounds (release build).
crash-soak:
	mkdir -p $(CURDIR)/build && cd $(CURDIR)/rust && BTT_REORDER_SOAK=1 cargo test --release -p btt_core --test reorder \
		-- --nocapture >$(CURDIR)/build/crash-soak.log 2>&1; rc=$$?; \
		grep -E 'reorder:|^test result|panicked' $(CURDIR)/build/crash-soak.log; exit $$rc

ndctl-test: toolchain
	$(CURDIR)/tools/testing/nvdimm-ndctl/run.sh --driver $(or $(BTT_DRIVER),c)

soak: toolchain
	$(CURDIR)/tools/testing/powercut/soak.sh --jobs $(or $(JOBS),2) --driver $(or $(BTT_DRIVER),rs) --iterations $(or $(CUTS),1000) $(POWERCUT_ARGS)

# Long btt_stress.sh run: ROUNDS rounds (default 3000) in one 4-vCPU guest.
stress-soak: toolchain module
	BTT_TCG_THREADS=multi $(SCRIPTS)/qemu-run.sh --quiet --fresh --img $(CURDIR)/build/btt-stress.img --cpus 4 --timeout $$(( $(or $(ROUNDS),3000) * 60 + 600 )) \
		--out $(CURDIR)/build/stress-soak -- sh tools/testing/selftests/btt-rs/btt_stress.sh rs $(or $(ROUNDS),3000) $(or $(SECS),5); \
		rc=$$?; grep -E '^# (rounds|totals)' $(CURDIR)/build/stress-soak/guest.log; exit $$rc

# The concurrency suites on the kcsan kernel (KCSAN), 4 vCPUs on multi-threaded TCG: prints every race report.
# First a positive control (stress with a planted race, BTT_KCSAN_CANARY=1): fails if KCSAN does not report it.
kcsan: toolchain
	$(SCRIPTS)/kcsan.sh $(SECS)

# BOOTS (default 50) boots on multi-threaded TCG, 4 vCPUs: prints the failures.
mttcg-boots: toolchain module
	$(SCRIPTS)/mttcg-boots.sh $(or $(BOOTS),50)

# Guest fuzz soak: COUNT (default 10000) mutated images, 500 per boot; hours.
fuzz-soak: toolchain module
	{ $(CURDIR)/tools/testing/fuzz-guest/run.sh --count $(or $(COUNT),10000) --seed $(or $(SEED),$$(date +%s)) \
		--batch $(or $(BATCH),500) --out $(CURDIR)/build/fuzz-soak; echo $$? >$(CURDIR)/build/fuzz-soak.rc; } | \
		tee $(CURDIR)/build/fuzz-soak.tap | grep -vE '^ok [0-9]+'; exit $$(cat $(CURDIR)/build/fuzz-soak.rc)

toolchain:
	$(SCRIPTS)/toolchain.sh

kernel: toolchain
	$(SCRIPTS)/build-kernel.sh debug

kernel-plain: toolchain
	$(SCRIPTS)/build-kernel.sh plain

module: toolchain
	$(SCRIPTS)/build-module.sh debug

host-test:
	BTT_TEST_ONLY=host $(CURDIR)/tools/testing/run-tests.sh

guest-test: toolchain
	BTT_TEST_ONLY=guest $(CURDIR)/tools/testing/run-tests.sh

shell: toolchain
	$(SCRIPTS)/qemu-run.sh --shell

clean:
	rm -rf $(CURDIR)/build $(CURDIR)/rust/target
