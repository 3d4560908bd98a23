#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make ndctl-test`: ndctl's own BTT tests (btt-check.sh, btt-errors.sh,
# btt-pad-compat.sh, sector-mode.sh; and btt-errors-nofs.sh, ours: btt-errors.sh
# without ext4) in one boot of the guest, on the kernel's nfit_test bus, against
# the chosen BTT driver. Prints KTAP (one test point per test; ndctl's exit 77
# shows as "# SKIP" with its reason), then "N passed, N failed, N skipped";
# exits non-zero if anything failed.
#
# What it builds first (each cached): the nfit_test modules against the guest
# kernel (scripts/build-nfit-test.sh), ndctl from its Debian source package with
# the test scripts (build-ndctl.sh), an initramfs overlay with them and the tools
# the tests call (mkoverlay.sh); with --driver rs also btt_rs.ko.
#
# With --stale-rtt the boot runs btt-stale-rtt.guest.sh instead: the C driver's
# stale read-tracking entry (scripts/patches/nd_btt/0001), reproduced with a
# stock and a fixed nd_btt.ko, both built with a test-only delay
# (nd_btt-test-read-delay.patch) by scripts/build-nd-btt.sh.
#
# Usage: tools/testing/nvdimm-ndctl/run.sh [--driver c|rs] [--flavour debug|kasan|plain]
#                                          [--timeout S] [--stale-rtt] [TEST.sh...]
# Logs: build/ndctl-test/<driver>/ (stale-rtt/ with --stale-rtt; guest.log = the
# KTAP, <test>.log per test, console.log, dmesg).
. "$(dirname "$0")/../../../scripts/lib.sh"

# All in one function, parsed whole before it runs: bash reads a script as it
# goes, and this one runs for minutes while the work tree may change.
main() {
	driver= flavour=debug timeout=2700 tests=() stale_rtt=0
	while [ $# -gt 0 ]; do
		case $1 in
		--driver) driver=$2; shift 2 ;;
		--flavour) flavour=$2; shift 2 ;;
		--timeout) timeout=$2; shift 2 ;;
		--stale-rtt) stale_rtt=1; shift ;;
		--help | -h) sed -n '3,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		-*) die "unknown option '$1' (see --help)" ;;
		*) tests+=("$1"); shift ;;
		esac
	done
	if [ "$stale_rtt" = 1 ]; then
		[ "${driver:-c}" = c ] && [ "${#tests[@]}" = 0 ] ||
			die "--stale-rtt runs its own test with the C driver: no --driver rs, no TEST.sh"
		driver=c
	fi
	driver=${driver:-${BTT_DRIVER:-c}}
	case $driver in c | rs) ;; *) die "unknown driver '$driver' (c or rs)" ;; esac

	here=$BTT_TOP/tools/testing/nvdimm-ndctl
	start=$(date +%s)
	kdir=$("$BTT_TOP/scripts/build-kernel.sh" "$flavour")
	nfit=$("$BTT_TOP/scripts/build-nfit-test.sh" "$flavour")
	stage=$("$here/build-ndctl.sh")
	if [ "$driver" = rs ]; then
		"$BTT_TOP/scripts/build-module.sh" "$flavour" >/dev/null ||
			die "--driver rs needs build/$flavour/btt_rs.ko, and the module does not build"
	fi
	if [ "$stale_rtt" = 1 ]; then
		delay=$here/nd_btt-test-read-delay.patch
		fixed_ko=$("$BTT_TOP/scripts/build-nd-btt.sh" "$flavour" --fixed "$delay") ||
			die "nd_btt.ko with the fixes and the test delay does not build"
		stock_ko=$("$BTT_TOP/scripts/build-nd-btt.sh" "$flavour" "$delay") ||
			die "nd_btt.ko with the test delay does not build"
	fi
	overlay=$BTT_TOP/build/$flavour/ndctl-overlay.cpio
	mkdir -p "$(dirname "$overlay")"
	"$here/mkoverlay.sh" "$kdir" "$nfit" "$stage" "$overlay"
	log "built in $(( $(date +%s) - start )) s; booting the guest (ndctl $(cat "$stage/opt/ndctl/VERSION"), driver $driver)"

	out=$BTT_TOP/build/ndctl-test/$driver
	[ "$stale_rtt" = 0 ] || out=$BTT_TOP/build/ndctl-test/stale-rtt
	rm -rf "$out"
	mkdir -p "$out/scripts"
	# The scripts run from copies (the guest's from the results directory, the
	# runner from memory): shells read scripts as they go, and a run of several
	# minutes must not pick up an edit made to the work tree meanwhile.
	cp "$here/ndctl-tests.guest.sh" "$here/btt-errors-nofs.sh" "$here/btt-poisoned-metadata.sh" \
		"$here/btt-stale-rtt.guest.sh" "$out/scripts/"
	guest=(sh /out/scripts/ndctl-tests.guest.sh "$driver" "${tests[@]}")
	if [ "$stale_rtt" = 1 ]; then
		cp "$fixed_ko" "$out/nd_btt_fixed.ko"
		cp "$stock_ko" "$out/nd_btt_stock.ko"
		guest=(sh /out/scripts/btt-stale-rtt.guest.sh)
	fi
	# The guest's KTAP as it comes (the console is in $out/console.log).
	tail -n +1 -F "$out/guest.log" 2>/dev/null &
	tailpid=$!
	set +e
	# The QEMU NVDIMM is unused (the tests work on nfit_test's buses) but the runner
	# always has one: keep it small. nfit_test allocates about 330 MiB of vmalloc.
	bash -c "$(cat "$BTT_TOP/scripts/qemu-run.sh")" "$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour "$flavour" --out "$out" --mem 2G \
		--img "$BTT_TOP/build/ndctl-test/nvdimm.img" --size 16 --fresh --timeout "$timeout" \
		--initrd-extra "$overlay" -- "${guest[@]}"
	rc=$?
	sleep 1
	kill "$tailpid" 2>/dev/null
	wait "$tailpid" 2>/dev/null
	set -e

	p=$(grep -cE '^ok [0-9]+' "$out/guest.log" || true)
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$out/guest.log" || true)
	f=$(grep -cE '^not ok [0-9]+' "$out/guest.log" || true)
	p=$((p - s))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		log "the guest exited $rc without a failed test point; see $out/console.log"
		f=1
	fi
	echo
	echo "ndctl BTT tests, driver $driver$([ "$stale_rtt" = 0 ] || echo ', stale RTT reproducer'): $(( $(date +%s) - start )) s; logs in $out"
	echo "ndctl-test: $p passed, $f failed, $s skipped"
	[ "$f" = 0 ] && [ "$p" -gt 0 ]
}
main "$@"
exit
