#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Power-cut test: BTT's promise is that after a power failure every sector is
# wholly old or wholly new, and no acknowledged write is lost. The guest writes
# self-identifying sectors with O_DIRECT|O_SYNC and logs every write's intent and
# acknowledgement to the host (pcwriter.c); the host SIGKILLs QEMU at a random
# moment (the namespace lives in the shared backing file, so it survives the cut
# as it was); the host checks the BTT metadata in the image with the btt tool
# (interrupted writes are expected there, nothing else); the next boot attaches,
# verifies every sector against the log and runs ndctl check-namespace, then
# starts writing again. One boot per cut, plus a setup boot before and a verify
# boot after, whose image btt check must find clean.
#
# Usage: run.sh [options]
#   --driver c|rs        BTT driver in the guest (default $BTT_DRIVER, else rs)
#   --iterations N       power cuts (default 3)
#   --sector-size S      512 or 4096 (default 4096)
#   --size SIZE          namespace size, ndctl's -s (default 32M; BTT wants more than 16 MiB)
#   --threads N          concurrent writers in the guest (default 4)
#   --batch N            sectors each writer logs per 9p append, then writes (default 16)
#   --max-delay S        the cut comes 0..S seconds after the first ack (default 4)
#   --seed N             seed of the writers and of the delays (default random)
#   --flavour F          guest kernel flavour, debug, kasan or plain (default debug)
#   --append ARGS        kernel arguments (default acpi=noirq: PCI interrupts from the
#                        PIRQ table; ACPI's link methods cost the debug kernel ~35 s a boot)
#   --out DIR            work directory, recreated (default build/powercut/<driver>-<S>)
# Output: KTAP (every guest test point, renumbered and labelled with its cut, plus
# one point per cut for the cut itself) and a closing "# powercut summary" line.
# Exit status 0 only if every cut was made and every verify passed.
. "$(dirname "$0")/../../../scripts/lib.sh"
set +e +o pipefail # (grep -q on a pipe must not fail by SIGPIPE)

# All in one function: bash reads it whole, so editing this file does not
# disturb a run in progress.
main() {
	driver=${BTT_DRIVER:-rs} iterations=3 ss=4096 size=32M threads=4 batch=16 maxdelay=4 seed=
	flavour=debug out= append=acpi=noirq
	while [ $# -gt 0 ]; do
		case $1 in
		--driver) driver=$2; shift 2 ;;
		--iterations) iterations=$2; shift 2 ;;
		--sector-size) ss=$2; shift 2 ;;
		--size) size=$2; shift 2 ;;
		--threads) threads=$2; shift 2 ;;
		--batch) batch=$2; shift 2 ;;
		--max-delay) maxdelay=$2; shift 2 ;;
		--seed) seed=$2; shift 2 ;;
		--flavour) flavour=$2; shift 2 ;;
		--out) out=$2; shift 2 ;;
		--append) append=$2; shift 2 ;;
		--help | -h) sed -n '3,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown option '$1' (see --help)" ;;
		esac
	done
	case $driver in c | rs) ;; *) die "--driver must be c or rs" ;; esac
	case $ss in 512 | 4096) ;; *) die "--sector-size must be 512 or 4096" ;; esac
	[[ $iterations =~ ^[0-9]+$ ]] || die "--iterations must be a number"
	seed=${seed:-$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}
	RANDOM=$seed
	out=${out:-$BTT_TOP/build/powercut/$driver-$ss}
	pcw=$("$BTT_TOP/tools/testing/powercut/build.sh") || exit 1
	if [ "$driver" = rs ]; then
		"$BTT_TOP/scripts/build-module.sh" "$flavour" >/dev/null || die "building btt_rs.ko failed"
	fi
	# The host's btt tool (rust/btt_tool); without it the host check is skipped.
	btt=$BTT_TOP/rust/target/debug/btt
	mkdir -p "$BTT_TOP/build/powercut"
	(cd "$BTT_TOP/rust" && cargo build -q -p btt_tool) >"$BTT_TOP/build/powercut/btt-build.log" 2>&1 || btt=

	rm -rf "$out"
	boot=$out/boot # the guest's /out in every boot: pc.log and powercut.state live here
	mkdir -p "$boot" "$out/last"
	img=$out/pc.img
	log=$boot/pc.log
	qemu=("$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour "$flavour" --img "$img" --out "$boot" --append "$append")
	# The guest runs copies: edits to the repository during a long series do not
	# change what it tests.
	cp "$BTT_TOP/tools/testing/powercut/powercut.guest.sh" "$pcw" "$boot/"
	pcw=$boot/pcwriter
	[ "$driver" = rs ] && cp "$BTT_TOP/build/$flavour/btt_rs.ko" "$boot/"
	if [ -n "$btt" ]; then cp "$btt" "$out/btt" && btt=$out/btt; fi
	guest=(sh /out/powercut.guest.sh "$driver")

	n=0 failed=0
	point() { # ok|not-ok TEXT...
		local res=$1
		shift
		n=$((n + 1))
		if [ "$res" = ok ]; then echo "ok $n $*"; else echo "not ok $n $*"; failed=$((failed + 1)); fi
	}
	# relay LABEL: the last boot's test points, renumbered, and its diagnostics.
	relay() {
		local line
		while IFS= read -r line; do
			case $line in
			"ok "[0-9]*) point ok "$1: $(sed -E 's/^ok [0-9]+ //' <<<"$line")" ;;
			"not ok "[0-9]*) point not-ok "$1: $(sed -E 's/^not ok [0-9]+ //' <<<"$line")" ;;
			"# totals:"*) ;;
			"# "*) echo "# $1: ${line#\# }" ;;
			"PCVERIFY "*) echo "# $1: $line" ;;
			esac
		done < <(tr -d '\r' 2>/dev/null <"$boot/guest.log")
	}
	# Adds the last boot's PCVERIFY counts to the totals.
	declare -gA total
	sum_verify() {
		local kv
		for kv in $(sed -n 's/^PCVERIFY //p' "$boot/guest.log" 2>/dev/null | tail -1); do
			total[${kv%%=*}]=$((${total[${kv%%=*}]:-0} + ${kv#*=}))
		done
	}
	keep() { # the last boot's logs, for a post-mortem
		cp "$boot"/{console.log,guest.log,dmesg} "$out/last/" 2>/dev/null
	}
	# host_check LABEL strict|after-cut: btt check of the image. After a cut, writes
	# cut between their flog entry and their map update are expected (the next
	# attach rolls them forward); any other problem fails, as does any problem
	# at all in the strict mode.
	host_check() {
		local res rc pending other
		if [ -z "$btt" ]; then
			point ok "$1: host btt check # SKIP the btt tool did not build (build/powercut/btt-build.log)"
			return
		fi
		(. "$boot/powercut.state" && "$btt" check "$img" --offset $((NS_OFF + 4096)) --size $((NS_SIZE - 4096))) \
			>"$out/btt-check.txt" 2>&1
		rc=$?
		pending=$(grep -c '^problem: .*interrupted write' "$out/btt-check.txt")
		other=$(grep -E '^problem: |more problems' "$out/btt-check.txt" | grep -vc 'interrupted write')
		total[btt_pending]=$((${total[btt_pending]:-0} + pending))
		if [ $rc = 0 ] || { [ $2 = after-cut ] && [ $rc = 1 ] && [ "$other" = 0 ]; }; then
			if [ $rc = 0 ]; then point ok "$1: host btt check clean"; else
				point ok "$1: host btt check ($pending interrupted writes for the next attach to finish)"; fi
		else
			sed 's/^/# btt check: /' "$out/btt-check.txt" | head -30
			point not-ok "$1: host btt check (exit $rc, $pending interrupted writes, $other other problems)"
			cp "$img" "$out/failed-check.img"
		fi
	}
	# boot ARGS...: one boot that runs to its end. A boot that never reaches the
	# guest command (say, scripts/qemu-run.sh caught in the middle of an edit) is
	# retried twice, 30 s apart.
	boot() {
		local try rc
		for try in 1 2 3; do
			rm -f "$boot/guest.log"
			"${qemu[@]}" "$@" >"$out/qemu.err" 2>&1
			rc=$?
			[ -f "$boot/guest.log" ] && return $rc
			cp "$boot/console.log" "$out/no-guest-$try.console.log"
			echo "# the boot did not reach the guest (exit $rc: $(tail -1 "$out/qemu.err")); try $try of 3"
			[ $try = 3 ] || sleep 30
		done
		return $rc
	}
	summary() {
		local el=$(($(date +%s) - t_start))
		echo "1..$n"
		echo "# powercut summary: driver $driver, ${ss}-byte sectors, $cuts cuts," \
			"${total[sectors]:-0} sectors verified, torn ${total[torn]:-0}, lost ${total[lost]:-0}" \
			"(future ${total[future]:-0}, stale ${total[stale]:-0}, read errors ${total[ioerr]:-0});" \
			"writes in flight at the cuts: ${total[landed]:-0} landed, ${total[not_landed]:-0} did not;" \
			"interrupted writes seen by btt check: ${total[btt_pending]:-0};" \
			"$acks writes acknowledged; ${el} s, $((cuts ? el / cuts : 0)) s per cut; seed $seed;" \
			"failed points $failed"
	}

	echo "TAP version 13"
	echo "# powercut: driver $driver, ${ss}-byte sectors, namespace $size, $threads writers in batches of $batch," \
		"$iterations cuts 0..${maxdelay}s after the first ack, seed $seed, work dir $out"
	t_start=$(date +%s) cuts=0 acks=0

	# Setup: a fresh NVDIMM and a sector-mode namespace on it.
	boot --fresh --size 64 --timeout 900 -- "${guest[@]}" setup "$ss" "$size"
	rc=$?
	relay setup
	if [ $rc != 0 ] || [ ! -f "$boot/powercut.state" ]; then
		keep
		point not-ok "setup boot (exit $rc; see $out/last/console.log)"
		tail -5 "$out/qemu.err" | sed 's/^/# /'
		summary
		exit 1
	fi

	i=1 tries=0
	while [ $i -le "$iterations" ]; do
		base=$(stat -c %s "$log")
		rm -f "$boot/qemu.pid" "$boot/guest.log" "$boot/rc"
		t0=$(date +%s.%N)
		"${qemu[@]}" --pidfile "$boot/qemu.pid" --timeout 1800 -- "${guest[@]}" run $((seed * 1000 + i)) "$threads" "$batch" \
			>"$out/qemu.err" 2>&1 &
		runner=$!
		# Wait until the guest has verified the last cut and its writers have had a
		# write acknowledged.
		writing=0 twrite=
		while kill -0 $runner 2>/dev/null; do
			if grep -q '^POWERCUT-WRITING' "$boot/guest.log" 2>/dev/null &&
				tail -c +$((base + 1)) "$log" | grep -q '^A '; then
				writing=1
				break
			fi
			if [ $(($(date +%s) - ${t0%.*})) -gt 600 ]; then
				echo "# cut $i: no acknowledged write after 600 s"
				break
			fi
			sleep 0.2
		done
		label="after cut $((i - 1))"
		[ $i = 1 ] && label="before the first cut"
		if [ $writing = 1 ]; then
			twrite=$(date +%s.%N)
			delay_ms=$((RANDOM % (maxdelay * 1000 + 1)))
			sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
			qpid=$(cat "$boot/qemu.pid" 2>/dev/null)
			# Only our QEMU: the pid file is fresh and the process uses our image.
			if [ -n "$qpid" ] && grep -qF "$img" "/proc/$qpid/cmdline" 2>/dev/null; then
				kill -KILL "$qpid"
			else
				writing=0
				echo "# cut $i: no QEMU to kill (pid file '${qpid}')"
			fi
		fi
		if kill -0 $runner 2>/dev/null && [ $writing = 0 ]; then
			# Stuck without writing: stop the boot (the runner's timeout would too).
			qpid=$(cat "$boot/qemu.pid" 2>/dev/null)
			[ -n "$qpid" ] && grep -qF "$img" "/proc/$qpid/cmdline" 2>/dev/null && kill -KILL "$qpid"
		fi
		wait $runner
		tend=$(date +%s.%N)
		if [ $writing = 0 ] && [ ! -f "$boot/guest.log" ] && [ $tries -lt 2 ]; then
			# As in boot(): the guest never ran, the image is untouched; again.
			tries=$((tries + 1))
			cp "$boot/console.log" "$out/no-guest-cut$i-$tries.console.log"
			echo "# cut $i: the boot did not reach the guest ($(tail -1 "$out/qemu.err")); console kept" \
				"in no-guest-cut$i-$tries.console.log; try $tries of 2 more"
			sleep 30
			continue
		fi
		tries=0
		relay "$label"
		[ $i -gt 1 ] && sum_verify
		keep
		new=$(tail -c +$((base + 1)) "$log" | grep -c '^A ')
		acks=$((acks + new))
		if [ $writing = 1 ]; then
			cuts=$((cuts + 1))
			point ok "cut $i: QEMU killed $(awk "BEGIN {printf \"%.1f\", $tend - $twrite}") s after the first ack" \
				"($new writes acknowledged, boot to cut $(awk "BEGIN {printf \"%.0f\", $tend - $t0}") s)"
		else
			point not-ok "cut $i: the guest never wrote (see $out/last/console.log)"
			tail -5 "$out/qemu.err" | sed 's/^/# /'
			grep -E '^(not ok|# )' "$boot/guest.log" 2>/dev/null | tail -20 | sed 's/^/# guest: /'
			summary
			exit 1
		fi
		host_check "cut $i" after-cut
		# The log back to one line per fact, so it does not grow with every cut;
		# the raw tail of each cut is kept compressed.
		tail -c +$((base + 1)) "$log" | gzip -1 >>"$out/pc.log.history.gz"
		"$pcw" compact "$log" >/dev/null || die "compacting $log failed"
		i=$((i + 1))
	done

	# The last cut is verified by a boot that does not write.
	if [ "$iterations" -gt 0 ]; then
		boot --timeout 1800 -- "${guest[@]}" verify
		rc=$?
		relay "after cut $iterations"
		sum_verify
		keep
		if [ $rc != 0 ] && ! grep -q '^not ok' "$boot/guest.log" 2>/dev/null; then
			point not-ok "final verify boot (exit $rc; see $out/last/console.log)"
			tail -5 "$out/qemu.err" | sed 's/^/# /'
		fi
		[ $rc = 0 ] && host_check "after cut $iterations (the guest shut down cleanly)" strict
	fi
	summary
	[ $failed = 0 ] && [ "${total[torn]:-0}" = 0 ] && [ "${total[lost]:-0}" = 0 ]
}

main "$@"
exit
