#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the debug guest N times (default 50) on multi-threaded TCG with 4 vCPUs
# and runs tools/testing/selftests/btt-rs/smp_boot.sh in each: the check that
# QEMU 10's MTTCG does not run stale kernel text as 7.2's did (README: which
# QEMU runs which suite). Prints one line per failed boot and then
# "mttcg boots: N, failed F (QEMU V)"; exit status 0 only if none failed.
# Usage: scripts/mttcg-boots.sh [N [FLAVOUR]]   (kernel flavour debug or plain, default
# debug; BTT_QEMU=7.2 to count 7.2's failures)
. "$(dirname "$0")/lib.sh"
n=${1:-50} flavour=${2:-debug}
"$BTT_TOP/scripts/build-module.sh" "$flavour" >/dev/null || die "btt_rs.ko ($flavour) does not build"
out=$BTT_TOP/build/mttcg-boots
rm -rf "$out"
mkdir -p "$out"
failed=0
for i in $(seq 1 "$n"); do
	d=$out/$i
	# A boot takes about a minute; a hung one is killed after 4 (lib.sh's
	# set -e must not end the count at the first failure). loglevel=7: the
	# console of a failed boot shows how far it got.
	rc=0
	BTT_TCG_THREADS=multi "$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour "$flavour" --fresh --img "$out/nvdimm.img" --size 64 \
		--cpus 4 --timeout "${BOOT_TIMEOUT:-240}" --append loglevel=7 --out "$d" \
		-- sh tools/testing/selftests/btt-rs/smp_boot.sh 4 >"$d.log" 2>&1 || rc=$?
	if [ $rc != 0 ] || grep -q '^not ok' "$d/guest.log" 2>/dev/null || ! grep -q '^ok 5 ' "$d/guest.log" 2>/dev/null; then
		failed=$((failed + 1))
		why=$(grep -m1 -E 'Oops|BUG:|WARNING:|KASAN|int3|Kernel panic' "$d/console.log" 2>/dev/null || true)
		last=$(grep -a -v '^\s*$' "$d/console.log" 2>/dev/null | grep -a -v 'guest timed out' | tail -1 | tr -d '\033' | cut -c1-160 || true)
		echo "boot $i failed (exit $rc): ${why:-$(grep -m1 '^not ok' "$d/guest.log" 2>/dev/null || echo "no result; last console line: $last")}"
	fi
done
qemu=$QEMU10_DIR/usr/bin/qemu-system-x86_64
[ "${BTT_QEMU:-10}" = 7.2 ] || [ ! -x "$qemu" ] && qemu=qemu-system-x86_64
ver=$("$qemu" -L "$QEMU10_DIR/usr/share/qemu" --version 2>/dev/null | head -1)
echo "mttcg boots: $n ($flavour kernel), failed $failed (${ver:-QEMU ${BTT_QEMU:-10}})"
[ $failed = 0 ]
