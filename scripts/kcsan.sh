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
# own dmesg check also fails on it.
#
# First comes a positive control, so that no report on the real suites means
# something: stress.sh with the canary module (btt_rs.ko built with
# BTT_KCSAN_CANARY=1 into build/kcsan-canary/, see Kbuild), in which every bio
# increments one global without a lock in btt_rs_race_canary()
# (rust/glue/btt_glue.c). At least one report must name that function and be
# marked [btt]; if none does, the script stops there with an error: KCSAN's
# silence on the real suites would prove nothing.
#
# Ends with "kcsan control: caught, N reports in btt_rs_race_canary [btt]" and
# "kcsan: S suites (P passed), R race reports, U distinct, B on the BTT path";
# exit status 0 only if the control was caught, every suite passed and no
# report was made.
# Usage: scripts/kcsan.sh [--control-only] [SECONDS per load phase, default 10]
#   --control-only: the control alone (one boot)
. "$(dirname "$0")/lib.sh"
control_only=0
if [ "${1:-}" = --control-only ]; then
	control_only=1
	shift
fi
secs=${1:-10}
if [ $control_only = 0 ]; then
	"$BTT_TOP/scripts/build-module.sh" kcsan >/dev/null || die "btt_rs.ko (kcsan) does not build"
fi
canary_ko=$("$BTT_TOP/scripts/build-module.sh" kcsan BTT_KCSAN_CANARY=1) ||
	die "the canary btt_rs.ko (kcsan, BTT_KCSAN_CANARY=1) does not build"
canary_fn=btt_rs_race_canary
# Not build/kcsan: that is where build-module.sh puts the kcsan btt_rs.ko.
out=$BTT_TOP/build/kcsan-run
rm -rf "$out"
mkdir -p "$out"
st=tools/testing/selftests/btt-rs

# boot NAME COMMAND...: COMMAND in a guest whose results go to $out/NAME; sets
# rc (the guest's exit status; 99 if it passed without KCSAN's boot line) and
# kcsan_on (that line).
boot() {
	local name=$1
	shift
	rc=0
	# loglevel=6: KCSAN's own boot line ("kcsan: non-strict mode configured")
	# reaches the console, the proof that it ran.
	BTT_TCG_THREADS=multi "$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour kcsan --fresh --append loglevel=6 \
		--img "$out/$name.img" --cpus 4 --timeout 1800 --out "$out/$name" -- "$@" >"$out/$name.log" 2>&1 || rc=$?
	kcsan_on=$(grep -o -m1 -E 'kcsan: (non-)?strict mode configured' "$out/$name/console.log" 2>/dev/null || true)
	if [ -z "$kcsan_on" ]; then
		echo "  $name: no KCSAN line on the console: KCSAN did not run"
		[ $rc != 0 ] || rc=99
	fi
}

# reports FILE CONSOLE...: every report on the consoles, from its header line
# to the ===== line that closes it, into FILE; prints each distinct one with
# its first frames, marked [btt] when a frame is btt_rs's or libnvdimm's; sets
# total, distinct and on_btt. Only the kernel's own lines (a timestamp first)
# start a report: a failing dmesg check echoes the headers on the console too.
reports() {
	local file=$1 heads head block
	shift
	awk '{ sub(/\r$/, "") } /^\[ *[0-9.]+\] BUG: KCSAN:/ { r = 1 } r { print } r && /=====/ { r = 0; print "--" }' \
		"$@" >"$file" 2>/dev/null || true
	total=$(grep -c 'BUG: KCSAN:' "$file" || true)
	heads=$( (grep -o 'BUG: KCSAN: .*' "$file" || true) | sort -u)
	distinct=$(printf '%s' "$heads" | grep -c . || true)
	on_btt=0
	while IFS= read -r head; do
		[ -n "$head" ] || continue # no report at all: one empty line
		# The frames of this report: does one belong to btt_rs or libnvdimm?
		block=$(awk -v h="$head" 'index($0, h) { r = 1 } r { print } r && /^--$/ { exit }' "$file")
		if echo "$block" | grep -qE '\[btt_rs\]|\[libnvdimm\]|\[nd_pmem\]|nsio_|nvdimm_|btt_rs_'; then
			on_btt=$((on_btt + 1))
			echo "[btt] $head"
		else
			echo "      $head"
		fi
		echo "$block" | grep -E '^\[ *[0-9.]+\] +[a-zA-Z_0-9.]+\+0x' | head -6 | sed 's/^/        /'
	done <<<"$heads"
}

# The control: the stress suite with the canary module.
log "kcsan: control (stress with the planted race in $canary_fn)"
boot control sh $st/stress.sh "/btt/${canary_ko#"$BTT_TOP"/}"
reports "$out/control-reports.txt" "$out/control/console.log" >"$out/control-reports.list"
sed 's/^/  /' "$out/control-reports.list"
# A report naming the canary (grep -w: not its counter), as the listing marked it.
caught=$( (grep 'BUG: KCSAN:' "$out/control-reports.txt" || true) | grep -cw $canary_fn || true)
marked=$( (grep '^\[btt\] BUG: KCSAN:' "$out/control-reports.list" || true) | grep -cw $canary_fn || true)
if [ "$caught" -gt 0 ] && [ "$marked" -gt 0 ]; then
	control="kcsan control: caught, $caught reports in $canary_fn [btt] ($total reports in all; ${kcsan_on:-no KCSAN line})"
else
	control="kcsan control: NOT caught: $caught reports in $canary_fn, $marked marked [btt] ($total reports in all; guest exit $rc; console $out/control/console.log)"
fi
echo "$control"
[ "$caught" -gt 0 ] && [ "$marked" -gt 0 ] ||
	die "KCSAN did not catch the planted race: its silence on the real suites proves nothing"
[ $control_only = 0 ] || exit 0

suites=(
	"stress|sh $st/stress.sh rs"
	"btt-stress|sh $st/btt_stress.sh rs 2 $secs"
	"lifecycle|sh $st/lifecycle.sh rs 5 $secs"
)
passed=0
consoles=()
for s in "${suites[@]}"; do
	name=${s%%|*} cmd=${s#*|}
	log "kcsan: $name"
	# shellcheck disable=SC2086 # the command is words on purpose
	boot "$name" $cmd
	consoles+=("$out/$name/console.log")
	if [ $rc = 0 ] && ! grep -q '^not ok' "$out/$name/guest.log" 2>/dev/null &&
		grep -q '^ok ' "$out/$name/guest.log" 2>/dev/null; then
		passed=$((passed + 1))
		echo "  $name: passed ($kcsan_on)"
	else
		echo "  $name: FAILED (exit $rc; $(grep -c '^not ok' "$out/$name/guest.log" 2>/dev/null || echo no) failed points)"
		grep '^not ok' "$out/$name/guest.log" 2>/dev/null | sed 's/^/    /'
	fi
done

reports "$out/reports.txt" "${consoles[@]}"
echo "$control"
echo "kcsan: ${#suites[@]} suites ($passed passed), $total race reports, $distinct distinct, $on_btt on the BTT path (consoles in $out)"
[ "$passed" = "${#suites[@]}" ] && [ "$total" = 0 ]
