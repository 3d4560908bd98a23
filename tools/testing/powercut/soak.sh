#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make soak`: a long power-cut series split over several independent series run
# side by side (each its own image, log and seed; QEMU under TCG keeps about one
# host core busy per guest), then one combined KTAP stream and one summary:
#   # soak summary: driver rs, 4096-byte sectors, N cuts in J series, N sectors verified,
#     torn 0, lost 0, ...
# Usage: soak.sh [--jobs J] [--iterations TOTAL] [run.sh options...]
#   --jobs J         series side by side (default 2, one per host core)
#   --iterations N   cuts in all (default 1000), split evenly over the series
#   other options go to every series' run.sh (--driver, --sector-size, --flavour,
#   --threads, ...); --out and --seed are set per series.
# Work files: build/powercut/soak-<driver>-<sector size>/seriesK/ (as run.sh's).
# Exit status 0 only if every series passed with torn 0 and lost 0.
. "$(dirname "$0")/../../../scripts/lib.sh"
set +e

main() {
	local jobs=2 total=1000 args=() driver=${BTT_DRIVER:-rs} ss=4096
	while [ $# -gt 0 ]; do
		case $1 in
		--jobs) jobs=$2; shift 2 ;;
		--iterations) total=$2; shift 2 ;;
		--out | --seed) die "soak.sh sets $1 per series" ;;
		--driver) driver=$2; args+=("$1" "$2"); shift 2 ;;
		--sector-size) ss=$2; args+=("$1" "$2"); shift 2 ;;
		--help | -h) sed -n '3,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	[[ $jobs =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number"
	[[ $total =~ ^[0-9]+$ ]] || die "--iterations must be a number"
	local dir=$BTT_TOP/build/powercut/soak-$driver-$ss k n t0 rc
	rm -rf "$dir"
	mkdir -p "$dir"
	# Build once before the series start, so they do not race to build the same files.
	"$BTT_TOP/tools/testing/powercut/build.sh" >/dev/null || die "building pcwriter failed"
	if [ "$driver" = rs ]; then
		local flavour=debug i
		for ((i = 0; i < ${#args[@]}; i++)); do [ "${args[i]}" = --flavour ] && flavour=${args[i + 1]}; done
		"$BTT_TOP/scripts/build-module.sh" "$flavour" >/dev/null || die "building btt_rs.ko failed"
	fi
	t0=$(date +%s)
	log "soak: $total cuts of $driver ($ss-byte sectors) in $jobs series side by side; work in $dir"
	for ((k = 1; k <= jobs; k++)); do
		n=$((total / jobs + (k <= total % jobs ? 1 : 0)))
		(
			"$BTT_TOP/tools/testing/powercut/run.sh" "${args[@]}" --iterations "$n" \
				--seed "$((($(od -An -N2 -tu2 /dev/urandom | tr -d ' ') + k) % 65536))" \
				--out "$dir/series$k" >"$dir/series$k.tap" 2>"$dir/series$k.err"
			echo $? >"$dir/series$k.rc"
		) &
	done
	wait

	# One KTAP stream: every series' points, renumbered and labelled.
	echo "TAP version 13"
	local line p=0 f=0 rcs=0
	for ((k = 1; k <= jobs; k++)); do
		while IFS= read -r line; do
			case $line in
			"ok "[0-9]*) p=$((p + 1)); echo "ok $((p + f)) series $k: $(sed -E 's/^ok [0-9]+ //' <<<"$line")" ;;
			"not ok "[0-9]*) f=$((f + 1)); echo "not ok $((p + f)) series $k: $(sed -E 's/^not ok [0-9]+ //' <<<"$line")" ;;
			"# "*) echo "# series $k: ${line#\# }" ;;
			esac
		done <"$dir/series$k.tap"
		[ "$(cat "$dir/series$k.rc" 2>/dev/null)" = 0 ] || rcs=$((rcs + 1))
	done
	echo "1..$((p + f))"

	# The series' summaries, added up.
	local key sum
	declare -A sums
	local before=(cuts "sectors verified" landed "did not" "writes acknowledged") # "N key"
	local after=(torn lost future stale "read errors" "interrupted writes seen by btt check:") # "key N"
	for ((k = 1; k <= jobs; k++)); do
		line=$(grep '^# powercut summary' "$dir/series$k.tap")
		[ -n "$line" ] || { rcs=$((rcs + 1)); echo "# series $k: no summary (see $dir/series$k.err)"; continue; }
		for key in "${before[@]}"; do
			n=$(grep -oE "[0-9]+ $key" <<<"$line" | head -1 | grep -oE '^[0-9]+')
			sums[$key]=$((${sums[$key]:-0} + ${n:-0}))
		done
		for key in "${after[@]}"; do
			n=$(grep -oE "$key [0-9]+" <<<"$line" | head -1 | grep -oE '[0-9]+$')
			sums[$key]=$((${sums[$key]:-0} + ${n:-0}))
		done
	done
	local el=$(($(date +%s) - t0)) cuts=${sums[cuts]:-0}
	echo "# soak summary: driver $driver, ${ss}-byte sectors, $cuts cuts in $jobs series," \
		"${sums[sectors verified]:-0} sectors verified, torn ${sums[torn]:-0}, lost ${sums[lost]:-0}" \
		"(future ${sums[future]:-0}, stale ${sums[stale]:-0}, read errors ${sums[read errors]:-0});" \
		"writes in flight at the cuts: ${sums[landed]:-0} landed, ${sums[did not]:-0} did not;" \
		"interrupted writes seen by btt check: ${sums[interrupted writes seen by btt check:]:-0};" \
		"${sums[writes acknowledged]:-0} writes acknowledged; ${el} s, $((cuts ? el * jobs / cuts : 0)) s per cut" \
		"per series; failed points $f, failed series $rcs"
	[ "$f" = 0 ] && [ "$rcs" = 0 ] && [ "${sums[torn]:-0}" = 0 ] && [ "${sums[lost]:-0}" = 0 ] && [ "$cuts" -gt 0 ]
}

main "$@"
exit
