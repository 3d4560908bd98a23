#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make kcsan`: the concurrency suites on the kcsan kernel flavour (debug +
# KCSAN, scripts/kconfig/kcsan.config), each in its own boot with 4 vCPUs on
# multi-threaded TCG, so that accesses really happen at the same time:
# stress.sh (writers far outnumbering lanes), btt_stress.sh (rounds of
# writers, readers and CPU hogs) and lifecycle.sh (detach under load).
#
# KCSAN instruments C only (rustc gets no KCSAN flags in 7.3), so a report
# needs a C side: libnvdimm, the block layer, btt_rs's C glue. Every report
# ("BUG: KCSAN: data-race in A / B") is printed once with the frames that
# follow it, marked [btt] when a frame is btt_rs's or libnvdimm's; each suite's
# own dmesg check also fails on it. Ends with
# "kcsan: S suites (P passed), R race reports, U distinct, B on the BTT path";
# exit status 0 only if every suite passed and no report was made.
# Usage: scripts/kcsan.sh [SECONDS per load phase, default 10]
. "$(dirname "$0")/lib.sh"
secs=${1:-10}
"$BTT_TOP/scripts/build-module.sh" kcsan >/dev/null || die "btt_rs.ko (kcsan) does not build"
# Not build/kcsan: that is where build-module.sh puts the kcsan btt_rs.ko.
out=$BTT_TOP/build/kcsan-run
rm -rf "$out"
mkdir -p "$out"
st=tools/testing/selftests/btt-rs
suites=(
	"stress|sh $st/stress.sh rs"
	"btt-stress|sh $st/btt_stress.sh rs 2 $secs"
	"lifecycle|sh $st/lifecycle.sh rs 5 $secs"
)
passed=0
for s in "${suites[@]}"; do
	name=${s%%|*} cmd=${s#*|}
	log "kcsan: $name"
	rc=0
	# shellcheck disable=SC2086 # the command is words on purpose
	# loglevel=6: KCSAN's own boot line ("kcsan: non-strict mode configured")
	# reaches the console, the proof that it ran.
	BTT_TCG_THREADS=multi "$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour kcsan --fresh --append loglevel=6 \
		--img "$out/$name.img" --cpus 4 --timeout 1800 --out "$out/$name" -- $cmd >"$out/$name.log" 2>&1 || rc=$?
	kcsan_on=$(grep -o -m1 -E 'kcsan: (non-)?strict mode configured' "$out/$name/console.log" 2>/dev/null || true)
	if [ -z "$kcsan_on" ]; then
		echo "  $name: no KCSAN line on the console: KCSAN did not run"
		[ $rc != 0 ] || rc=99
	fi
	if [ $rc = 0 ] && ! grep -q '^not ok' "$out/$name/guest.log" 2>/dev/null &&
		grep -q '^ok ' "$out/$name/guest.log" 2>/dev/null; then
		passed=$((passed + 1))
		echo "  $name: passed ($kcsan_on)"
	else
		echo "  $name: FAILED (exit $rc; $(grep -c '^not ok' "$out/$name/guest.log" 2>/dev/null || echo no) failed points)"
		grep '^not ok' "$out/$name/guest.log" 2>/dev/null | sed 's/^/    /'
	fi
done

# Each report: from its header line to the ===== line that closes it.
reports=$out/reports.txt
awk '/BUG: KCSAN:/ { r = 1 } r { print } r && /=====/ { r = 0; print "--" }' \
	"$out"/*/console.log >"$reports" 2>/dev/null || true
total=$(grep -c 'BUG: KCSAN:' "$reports" || true)
heads=$( (grep -o 'BUG: KCSAN: .*' "$reports" || true) | sort -u)
distinct=$(printf '%s' "$heads" | grep -c . || true)
on_btt=0
while IFS= read -r head; do
	[ -n "$head" ] || continue # no report at all: one empty line
	# The frames of this report: does one belong to btt_rs or libnvdimm?
	block=$(awk -v h="$head" 'index($0, h) { r = 1 } r { print } r && /^--$/ { exit }' "$reports")
	if echo "$block" | grep -qE '\[btt_rs\]|\[libnvdimm\]|\[nd_pmem\]|nsio_|nvdimm_|btt_rs_'; then
		on_btt=$((on_btt + 1))
		echo "[btt] $head"
	else
		echo "      $head"
	fi
	echo "$block" | grep -E '^\[ *[0-9.]+\] +[a-zA-Z_0-9.]+\+0x' | head -6 | sed 's/^/        /'
done <<<"$heads"
echo "kcsan: ${#suites[@]} suites ($passed passed), $total race reports, $distinct distinct, $on_btt on the BTT path (consoles in $out)"
[ "$passed" = "${#suites[@]}" ] && [ "$total" = 0 ]
