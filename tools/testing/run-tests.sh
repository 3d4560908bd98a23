#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make test`: every btt-rs test suite, host and guest, then one closing line
# "N passed, N failed, N skipped" summing them all.
#
# Host suites: cargo test of the BTT core (and the btt tool).
# Guest suites: boots of the debug kernel under QEMU, each running a KTAP test
# from tools/testing/selftests/btt-rs/; every "ok"/"not ok" test point counts.
# A guest boot that produces no result counts as one failure.
#
# Environment: BTT_TEST_ONLY=host|guest limits the run to one side.
. "$(dirname "$0")/../../scripts/lib.sh"
set +e

passed=0 failed=0 skipped=0
results=$BTT_TOP/build/test-results
rm -rf "$results"
mkdir -p "$results"
summary=() failures=()

# failed_points NAME FILE: remembers FILE's "not ok" lines, each with the KTAP
# diagnostics ("# ...") just before it, for the list printed above the closing
# line (CI shows only the end of the output).
failed_points() {
	local line
	while IFS= read -r line; do failures+=("[$1] $line"); done < <(awk '
		/^# / { d[n++ % 3] = $0; next }
		/^not ok [0-9]+/ { for (i = (n > 3 ? n - 3 : 0); i < n; i++) print "  " d[i % 3]; print; n = 0; next }
		/^ok [0-9]+/ { n = 0 }' "$2" 2>/dev/null | cut -c1-300)
}

failures_noted=0
# suite_start: marks the start of the suite the next note() closes, whose
# summary line then says how long it took (CI's budget is wall time).
suite_t0=
suite_start() { suite_t0=$SECONDS; }
note() { # suite pass fail skip
	local took=
	[ -z "$suite_t0" ] || took=$(printf '%5d s' $((SECONDS - suite_t0)))
	suite_t0=
	summary+=("$(printf '%-44s %4d passed %4d failed %4d skipped%s' "$1" "$2" "$3" "$4" "${took:+ $took}")")
	passed=$((passed + $2)) failed=$((failed + $3)) skipped=$((skipped + $4))
	# A failure with no test point of its own to show (a build, a host check).
	[ "$3" = 0 ] || [ ${#failures[@]} -gt $failures_noted ] || failures+=("[$1] $3 failed: see the lines above the summary")
	failures_noted=${#failures[@]}
}

host_suites() {
	local log=$results/host-cargo.log p f i
	if [ ! -f "$BTT_TOP/rust/Cargo.toml" ]; then
		log "host: the BTT core crate (rust/Cargo.toml) is not in the tree yet: host suite not run"
		note "host: cargo test (no crate yet)" 0 0 1
		return
	fi
	log "host: cargo test (BTT core, btt tool)"
	suite_start
	# --nocapture: the crash simulation and the fuzzer print how much they checked.
	(cd "$BTT_TOP/rust" && cargo test --workspace -- --nocapture 2>&1) | tee "$log" | grep -E '^(test result|running|error)' >&2
	local rc=${PIPESTATUS[0]}
	grep -E 'points checked|states checked|images' "$log" | sed 's/^/  [host] /' >&2
	while IFS= read -r i; do failures+=("[host] $i"); done < <(grep -E '^test .* FAILED$|^error(\[|:)' "$log" | head -20)
	p=$(awk '/^test result:/ {s += $4} END {print s + 0}' "$log")
	f=$(awk '/^test result:/ {s += $6} END {print s + 0}' "$log")
	i=$(awk '/^test result:/ {s += $8} END {print s + 0}' "$log")
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		tail -20 "$log" >&2
		f=1 # the build failed or the runner died: that is a failure, not an empty pass
	fi
	note "host: cargo test" "$p" "$f" "$i"
	# The bad-image suite's damage, checked against the core's own checker
	# before a guest relies on it (the btt tool was built by cargo test).
	local out=$results/bad-images-host
	mkdir -p "$out"
	log "host: bad-images damage (corrupt.py) under btt check"
	suite_start
	"$BTT_TOP/tools/testing/bad-images/host-check.sh" "$BTT_TOP/rust/target/debug/btt" "$out" \
		>"$out/host-check.tap" 2>"$out/stderr.log"
	tally bad-images-damage "$out/host-check.tap" $? "$out/stderr.log" '^not ok [0-9]+|^# ' host
}

# Style, as the maintainers would check it: rustfmt (the host crates with cargo,
# the kernel-side files with the kernel tree's .rustfmt.toml) and clippy on the
# host crates with warnings denied. (The kernel's clippy runs in the module
# build: guest_suites builds btt_rs.ko with CLIPPY=1.)
style_suite() {
	local p=0 f=0 i=0 out=$results/style.log ksrc
	: >"$out"
	log "host: style (rustfmt, clippy)"
	suite_start
	if (cd "$BTT_TOP/rust" && cargo fmt --all --check) >>"$out" 2>&1; then p=$((p + 1)); else
		f=$((f + 1)); failures+=("[style] cargo fmt --check: see $out"); fi
	ksrc=$( (. "$BTT_TOP/scripts/lib.sh" && kernel_src_dir) 2>/dev/null)
	if [ -f "$ksrc/.rustfmt.toml" ]; then
		if rustfmt --edition 2021 --config-path "$ksrc/.rustfmt.toml" --check "$BTT_TOP"/rust/driver/*.rs "$BTT_TOP"/rust/kernel_ext/*.rs "$BTT_TOP"/rust/kernel_ext/*/*.rs >>"$out" 2>&1; then
			p=$((p + 1)); else f=$((f + 1)); failures+=("[style] rustfmt --check rust/driver, rust/kernel_ext (kernel config): see $out"); fi
	else
		i=$((i + 1)); log "style: no kernel source yet (make toolchain): kernel-side rustfmt not checked"
	fi
	if (cd "$BTT_TOP/rust" && cargo clippy -q --workspace --all-targets -- -D warnings) >>"$out" 2>&1; then
		p=$((p + 1)); else f=$((f + 1)); failures+=("[style] cargo clippy -D warnings: see $out"); fi
	[ $f = 0 ] || tail -30 "$out" >&2
	note "host: style (rustfmt, clippy)" $p $f $i
}

# tally NAME TAP RC ERRLOG SHOW: counts TAP's test points for suite NAME (whose
# runner exited RC); shows the lines matching SHOW and remembers the failed
# points. A suite with no test point at all, a runner that failed without a
# failed point, or a plan ("1..N") with points missing counts as one more
# failure: a suite that tested nothing or stopped early must not pass.
tally() {
	local name=$1 tap=$2 rc=$3 err=$4 show=$5 side=${6:-guest} p f s plan
	p=$(grep -cE '^ok [0-9]+' "$tap" 2>/dev/null)
	s=$(grep -cE '^ok [0-9]+ .*# SKIP' "$tap" 2>/dev/null)
	f=$(grep -cE '^not ok [0-9]+' "$tap" 2>/dev/null)
	p=$((${p:-0} - ${s:-0})) f=${f:-0} s=${s:-0}
	grep -E "$show" "$tap" 2>/dev/null | grep -vE '^ok ' | sed "s/^/  [$name] /" >&2
	failed_points "$name" "$tap"
	plan=$(sed -n 's/^1\.\.\([0-9][0-9]*\)$/\1/p' "$tap" 2>/dev/null | head -1)
	if [ $((p + f + s)) = 0 ]; then
		log "$side: $name reported no test point (exit $rc); see $err"
		tail -5 "$err" 2>/dev/null | sed "s/^/  [$name] /" >&2
		failures+=("[$name] reported no test point (exit $rc): $(tail -1 "$err" 2>/dev/null | cut -c1-200)")
		f=1
	elif [ -n "$plan" ] && [ $((p + f + s)) -lt "$plan" ]; then
		log "$side: $name planned $plan test points and reported $((p + f + s))"
		failures+=("[$name] planned $plan test points, reported $((p + f + s)): see $(dirname "$tap")")
		f=$((f + 1))
	elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		log "$side: $name exited $rc without a failed test point; see $err"
		tail -15 "$err" 2>/dev/null | sed "s/^/  [$name] /" >&2
		failures+=("[$name] exited $rc without a failed test point: $(tail -1 "$err" 2>/dev/null | cut -c1-200)")
		f=1
	fi
	note "$side: $name" "$p" "$f" "$s"
}

# guest_boot NAME [--state-from NAME] QEMUARGS -- CMD: one boot; counts its KTAP
# test points. --state-from hands the results directory of an earlier boot (files
# a test keeps for the next boot, such as checksums) to this one.
guest_boot() {
	local name=$1 out=$results/$1
	shift
	mkdir -p "$out"
	if [ "$1" = --state-from ]; then
		cp -a "$results/$2/." "$out/" 2>/dev/null
		shift 2
	fi
	local args=()
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	shift
	log "guest: $name"
	suite_start
	local rc=0
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --out "$out" "${args[@]}" -- "$@" || rc=$?
	if [ $rc = 125 ]; then
		# The kernel never reached /init (qemu-run.sh: boot hang, seen on
		# multi-threaded TCG): nothing of the suite ran. One more boot; the
		# hang is counted as skipped, by name, so it shows in the summary.
		mv "$out/console.log" "$out/console-hang.log"
		note "guest: $name: boot hang before /init, booted again (console-hang.log)" 0 0 1
		suite_start
		rc=0
		"$BTT_TOP/scripts/qemu-run.sh" --quiet --out "$out" "${args[@]}" -- "$@" || rc=$?
	fi
	tally "$name" "$out/guest.log" $rc "$out/console.log" '^(not ok|ok) [0-9]+|^# '
}

# tool_image IMG LBASIZE [btt create options]: a fresh NVDIMM backing file of
# 64 MiB (plus the 128 KiB label area) with a BTT made by the btt tool from the
# namespace's initial offset (4096) on, $tool_img_size bytes.
tool_img_size=$((64 * 1024 * 1024 - 4096))
tool_image() {
	local img=$1 lbasize=$2
	shift 2
	rm -f "$img"
	truncate -s $((64 * 1024 * 1024 + 131072)) "$img"
	"$BTT_TOP/rust/target/debug/btt" create "$img" --size $tool_img_size --offset 4096 --lbasize "$lbasize" "$@" >/dev/null
}

# The pre-4.15 flog padding: an image made by the btt tool, used in the guest,
# then checked on the host (padding kept, image clean, data as the guest wrote).
old_padding_suite() {
	local st=tools/testing/selftests/btt-rs img=$BTT_TOP/build/old-padding.img out=$results/old-padding
	local btt=$BTT_TOP/rust/target/debug/btt p=0 f=0
	suite_start
	if ! (cd "$BTT_TOP/rust" && cargo build -q -p btt_tool) >"$results/btt-tool-build.log" 2>&1; then
		tail -20 "$results/btt-tool-build.log" >&2
		note "guest: old-padding (btt tool build)" 0 1 0
		return
	fi
	tool_image "$img" 4096 --old-padding || { note "guest: old-padding (btt create)" 0 1 0; return; }
	guest_boot old-padding --img "$img" -- sh $st/old_padding.sh
	local info
	info=$("$btt" info "$img" --offset 4096 --size $tool_img_size)
	if echo "$info" | grep -q 'log_index_1 *2'; then p=$((p + 1)); else f=$((f + 1)); log "old-padding: the (0, 2) padding was not kept"; fi
	if "$btt" check "$img" --offset 4096 --size $tool_img_size >"$out/check.txt" 2>&1; then p=$((p + 1)); else f=$((f + 1)); sed 's/^/  [old-padding check] /' "$out/check.txt" >&2; fi
	local lba sum got
	while read -r lba sum; do
		got=$("$btt" read "$img" "$lba" --offset 4096 --size $tool_img_size | sha256sum | cut -d' ' -f1)
		if [ "$got" = "$sum" ]; then p=$((p + 1)); else f=$((f + 1)); log "old-padding: sector $lba differs on the host"; fi
	done <"$out/old_padding.sums"
	note "host: old-padding image after the guest" "$p" "$f" 0
}

# Repair for sector sizes ndctl cannot check: 520 (primary info block destroyed)
# and 4160 (backup destroyed, old flog padding rewritten), each filled by the
# btt tool, repaired by `btt check --repair`, then attached by both drivers.
repaired_suite() {
	local st=tools/testing/selftests/btt-rs out=$results/repaired btt=$BTT_TOP/rust/target/debug/btt
	local p=0 f=0 i=0 lbasize img ss lba info2 imgs=() sz=$tool_img_size
	mkdir -p "$out"
	: >"$out/repaired.sums"
	for lbasize in 520 4160; do
		img=$BTT_TOP/build/repaired-$lbasize.img
		imgs+=("$img")
		tool_image "$img" $lbasize $([ $lbasize = 4160 ] && echo --old-padding) || { f=$((f + 1)); continue; }
		ss=$((lbasize >= 4096 ? 4096 : 512))
		for lba in 0 3 500; do
			head -c $ss /dev/urandom >"$out/sector"
			"$btt" write "$img" $lba --offset 4096 --size $sz <"$out/sector" || f=$((f + 1))
			echo "$i $ss $lba $(sha256sum <"$out/sector" | cut -d' ' -f1)" >>"$out/repaired.sums"
		done
		info2=$("$btt" info "$img" --offset 4096 --size $sz | awk '$1 == "info2off" {print $2; exit}')
		if [ $lbasize = 520 ]; then
			dd if=/dev/zero of="$img" bs=1 seek=$((4096 + 48)) count=64 conv=notrunc 2>/dev/null
		else
			dd if=/dev/zero of="$img" bs=1 seek=$((4096 + info2 + 100)) count=8 conv=notrunc 2>/dev/null
		fi
		local before after
		before=$(sha256sum <"$img")
		if "$btt" check "$img" --offset 4096 --size $sz >"$out/check-$lbasize.txt" 2>&1; then
			f=$((f + 1)); log "repaired: btt check missed the damage ($lbasize)"
		else p=$((p + 1)); fi
		after=$(sha256sum <"$img")
		if [ "$before" = "$after" ]; then p=$((p + 1)); else f=$((f + 1)); log "repaired: btt check without --repair wrote ($lbasize)"; fi
		"$btt" check "$img" --offset 4096 --size $sz --repair --rewrite-log-padding >"$out/repair-$lbasize.txt" 2>&1
		sed "s/^/  [repair $lbasize] /" "$out/repair-$lbasize.txt" >&2
		if "$btt" check "$img" --offset 4096 --size $sz >>"$out/check-$lbasize.txt" 2>&1; then p=$((p + 1)); else
			f=$((f + 1)); log "repaired: still not clean after --repair ($lbasize)"; fi
		i=$((i + 1))
	done
	note "host: btt check/repair (520, 4160)" "$p" "$f" 0
	guest_boot repaired --state-from repaired --img "${imgs[0]}" --extra-nvdimm "${imgs[1]}" -- sh $st/repaired.sh
}

# Zero-flagged map entries on 512-byte sectors (as PMDK or a discarding BTT
# writes them), made by the btt tool: btt_rs reads them right, the stock nd_btt
# of 7.3 does not, nd_btt with scripts/patches/nd_btt/ does; no driver writes
# the image.
zero_flag_suite() {
	local st=tools/testing/selftests/btt-rs img=$BTT_TOP/build/zero-flag.img out=$results/zero-flag
	local img2=$BTT_TOP/build/zero-flag-4160.img
	local btt=$BTT_TOP/rust/target/debug/btt sz=$tool_img_size ko lba before
	mkdir -p "$out"
	suite_start
	if ! ko=$("$BTT_TOP/scripts/build-nd-btt.sh" debug --fixed 2>"$out/build.log"); then
		tail -20 "$out/build.log" >&2
		note "guest: zero-flag (patched nd_btt build)" 0 1 0
		return
	fi
	cp "$ko" "$out/nd_btt_fixed.ko"
	tool_image "$img" 512 || { note "guest: zero-flag (btt create)" 0 1 0; return; }
	# And 4160-byte sectors (4096 + 64 bytes of metadata): 12 sectors of random
	# data and metadata, then sectors 2-9 zero-flagged.
	tool_image "$img2" 4160 || { note "guest: zero-flag (btt create 4160)" 0 1 0; return; }
	for lba in $(seq 0 11); do
		head -c 4160 /dev/urandom | "$btt" write "$img2" $lba --offset 4096 --size $sz --meta ||
			{ note "guest: zero-flag (btt write 4160)" 0 1 0; return; }
	done
	"$btt" zero "$img2" 2 --count 8 --offset 4096 --size $sz >>"$out/btt-zero.log" 2>&1 ||
		{ note "guest: zero-flag (btt zero 4160)" 0 1 0; return; }
	head -c $((32 * 512)) /dev/urandom >"$out/zero_flag.want"
	for lba in $(seq 0 31); do
		dd if="$out/zero_flag.want" bs=512 skip=$lba count=1 2>/dev/null | "$btt" write "$img" $lba --offset 4096 --size $sz ||
			{ note "guest: zero-flag (btt write)" 0 1 0; return; }
	done
	# Sectors 3-5 (mid page), 8 (a page's first), 17, 24-31 (a whole page).
	for lba in 3:3 8:1 17:1 24:8; do
		"$btt" zero "$img" ${lba%:*} --count ${lba#*:} --offset 4096 --size $sz >>"$out/btt-zero.log" 2>&1 ||
			{ note "guest: zero-flag (btt zero)" 0 1 0; return; }
		dd if=/dev/zero of="$out/zero_flag.want" bs=512 seek=${lba%:*} count=${lba#*:} conv=notrunc 2>/dev/null
	done
	before=$(cat "$img" "$img2" | sha256sum)
	guest_boot zero-flag --img "$img" --extra-nvdimm "$img2" -- sh $st/zero_flag.sh
	suite_start
	if [ "$(cat "$img" "$img2" | sha256sum)" = "$before" ]; then note "host: zero-flag image unchanged by reads" 1 0 0; else
		failures+=("[zero-flag] a driver wrote the image while only reading it")
		note "host: zero-flag image unchanged by reads" 0 1 0
	fi
}

# powercut_suite NAME RUN.SH-ARGS...: a series of power cuts (tools/testing/powercut/run.sh:
# several boots, SIGKILLed QEMU, verify after each cut); counts its KTAP test points.
powercut_suite() {
	local name=$1 out=$results/$1
	shift
	mkdir -p "$out"
	log "guest: $name (power cuts: several boots)"
	suite_start
	"$BTT_TOP/tools/testing/powercut/run.sh" --out "$out/work" "$@" >"$out/powercut.tap" 2>"$out/powercut.err"
	tally "$name" "$out/powercut.tap" $? "$out/powercut.err" '^not ok [0-9]+|^# powercut summary'
}

# ktap_script NAME COMMAND...: a host-side script that boots its own guests and
# prints KTAP on stdout (such as tools/testing/bad-images/run.sh); its test points
# are counted as a guest boot's, its "# " diagnostics shown.
ktap_script() {
	local name=$1 out=$results/$1
	shift
	mkdir -p "$out"
	log "guest: $name (host script, own boots)"
	suite_start
	"$@" >"$out/guest.log" 2>"$out/stderr.log"
	tally "$name" "$out/guest.log" $? "$out/stderr.log" '^(not ok|ok) [0-9]+|^# '
}

# Side by side: most guest suites boot a single-threaded TCG guest, which keeps
# one host core busy, so two of them run at once on 2 cores (BTT_TEST_JOBS,
# default 2; 1 runs them one after the other). Each job is a function run in a
# background shell of its own; its stderr goes to a file that is shown, with
# its notes, in queue order once every job has ended, so the summary reads as
# a serial run's. Suites that share an image or a work directory are one job;
# suites with parallel vCPUs (multi-threaded TCG) or boots of their own side by
# side run alone, outside the jobs.
jobs_dir=
job_count=0
# over_budget WHAT: true, with WHAT counted as a failure, once the run has taken
# BTT_TEST_BUDGET seconds (default 75 minutes): no suite starts after that, so
# a run that is too slow still ends with its summary, naming what it left out,
# inside CI's 90 minutes, instead of being killed with nothing to show.
over_budget() {
	local budget=${BTT_TEST_BUDGET:-4500}
	[ $((SECONDS - run_t0)) -ge "$budget" ] || return 1
	log "guest: $1 not started: the run has taken $((SECONDS - run_t0)) s, its budget is $budget s (BTT_TEST_BUDGET)"
	failures+=("[$1] not started: the run passed its budget of $budget s (BTT_TEST_BUDGET)")
	note "guest: $1 (not started, over budget)" 0 1 0
}
job_start() { # FUNCTION ARGS...
	local f
	while [ "$(jobs -rp | wc -l)" -ge "${BTT_TEST_JOBS:-2}" ]; do wait -n; done
	over_budget "$([ "$1" = ktap_script ] || [ "$1" = guest_boot ] || [ "$1" = powercut_suite ] && echo "$2" || echo "$1")" && return
	job_count=$((job_count + 1))
	f=$jobs_dir/$(printf %03d $job_count)
	echo "$1" >"$f.name"
	log "guest: started $1 (job $job_count)"
	(
		summary=() failures=() passed=0 failed=0 skipped=0 failures_noted=0
		"$@" >"$f.err" 2>&1
		{
			declare -p summary failures | sed 's/^declare -a summary=/job_summary=/; s/^declare -a failures=/job_failures=/'
			echo "job_passed=$passed job_failed=$failed job_skipped=$skipped"
		} >"$f.state"
	) &
}
# Waits for every job, then adds their output and notes in queue order. A job
# that left no notes (its shell died) is a failure.
jobs_merge() {
	local f job_summary job_failures job_passed job_failed job_skipped
	wait
	for f in "$jobs_dir"/*.name; do
		[ -e "$f" ] || continue
		f=${f%.name}
		cat "$f.err" >&2
		if [ -s "$f.state" ]; then
			. "$f.state"
			summary+=("${job_summary[@]}")
			failures+=("${job_failures[@]}")
			passed=$((passed + job_passed)) failed=$((failed + job_failed)) skipped=$((skipped + job_skipped))
			failures_noted=${#failures[@]}
		else
			failures+=("[$(cat "$f.name")] the job ended without a result: see $f.err")
			note "guest: $(cat "$f.name") (job died)" 0 1 0
		fi
		rm -f "$f.name"
	done
}

# The jobs (each one or more boots that must run in order).
rs_sector_mode_job() {
	local st=tools/testing/selftests/btt-rs
	guest_boot sector-mode-rs-create --fresh --img "$BTT_TOP/build/rs.img" -- sh $st/sector_mode.sh rs create
	guest_boot sector-mode-rs-verify --state-from sector-mode-rs-create --img "$BTT_TOP/build/rs.img" -- sh $st/sector_mode.sh rs verify
}
c_sector_mode_job() {
	local st=tools/testing/selftests/btt-rs
	guest_boot sector-mode-c-create --fresh --img "$BTT_TOP/build/c.img" -- sh $st/sector_mode.sh c create
	guest_boot sector-mode-c-verify --state-from sector-mode-c-create --img "$BTT_TOP/build/c.img" -- sh $st/sector_mode.sh c verify
}
cross_driver_job() {
	local st=tools/testing/selftests/btt-rs
	guest_boot cross-driver-512 --fresh --img "$BTT_TOP/build/cross.img" --size 512 -- sh $st/cross_driver.sh 512
	guest_boot cross-driver-4096 --fresh --img "$BTT_TOP/build/cross.img" --size 512 -- sh $st/cross_driver.sh 4096
}
multi_arena_job() {
	local st=tools/testing/selftests/btt-rs
	BTT_MAXMEM=768G guest_boot multi-arena-create --fresh --img "$BTT_TOP/build/multi-arena.img" --size 532480 -- sh $st/multi_arena.sh create
	BTT_MAXMEM=768G guest_boot multi-arena-verify --state-from multi-arena-create --img "$BTT_TOP/build/multi-arena.img" --size 532480 -- sh $st/multi_arena.sh verify
}
btt_tool_images_job() {
	old_padding_suite
	repaired_suite
	zero_flag_suite
}
virtio_pmem_job() {
	local st=tools/testing/selftests/btt-rs
	# On multi-threaded TCG: its two vCPUs run at the same time.
	BTT_TCG_THREADS=multi guest_boot virtio-pmem-rs --fresh --img "$BTT_TOP/build/vpmem.img" --virtio-pmem -- sh $st/virtio_pmem.sh rs
	guest_boot virtio-pmem-c --fresh --img "$BTT_TOP/build/vpmem.img" --virtio-pmem -- sh $st/virtio_pmem.sh c
}
kernel_paths_job() {
	local st=tools/testing/selftests/btt-rs
	BTT_FLAVOUR=kasan guest_boot kernel-paths-rs --fresh --img "$BTT_TOP/build/kpaths.img" -- sh $st/kernel_paths.sh rs
	guest_boot kernel-paths-c --fresh --img "$BTT_TOP/build/kpaths.img" -- sh $st/kernel_paths.sh c
}
ndctl_job() {
	# ndctl's own BTT tests (btt-check, btt-errors, btt-pad-compat, sector-mode)
	# on nfit_test, against btt_rs (make ndctl-test; BTT_DRIVER=c for C).
	ktap_script ndctl-btt-rs "$BTT_TOP/tools/testing/nvdimm-ndctl/run.sh" --driver rs
	# Poison under the metadata, revalidated by an ARS scrub, with the C nd_btt
	# beside btt_rs: its outcome per case is printed (btt-poisoned-metadata.sh),
	# its test points are the nvdimm stack's (no splat, clean unload).
	ktap_script ndctl-poison-c "$BTT_TOP/tools/testing/nvdimm-ndctl/run.sh" --driver c \
		btt-poisoned-metadata.sh btt-errors-nofs.sh
	# The C driver's stale read-tracking entry (scripts/patches/nd_btt/0001),
	# widened by a test-only delay: the stock nd_btt leaves a writer spinning,
	# the fixed one does not (btt-stale-rtt.guest.sh).
	ktap_script ndctl-stale-rtt-c "$BTT_TOP/tools/testing/nvdimm-ndctl/run.sh" --stale-rtt --timeout 600
}

guest_suites() {
	local st=tools/testing/selftests/btt-rs
	# Two kernels: debug (lockdep, atomic-sleep, kmemleak, hung tasks) for most
	# suites, kasan (debug plus KASAN and UBSAN, several times slower under TCG) for
	# those whose point is memory safety: hostile images, teardown under load,
	# C reading the structures btt_rs fills. Each guest's dmesg check fails on
	# every report its kernel can make.
	suite_start
	"$BTT_TOP/scripts/build-kernel.sh" debug >/dev/null || { note "guest: kernel build (debug)" 0 1 0; return; }
	suite_start
	"$BTT_TOP/scripts/build-kernel.sh" kasan >/dev/null || { note "guest: kernel build (kasan)" 0 1 0; return; }
	if ! "$BTT_TOP/scripts/build-module.sh" kasan >"$results/build-module-kasan.out" 2>&1; then
		tail -30 "$results/build-module-kasan.out" >&2
		note "guest: btt_rs.ko build (kasan)" 0 1 0
		return
	fi
	# CLIPPY=1: the kernel's clippy lints every Rust file as it compiles.
	if ! "$BTT_TOP/scripts/build-module.sh" debug CLIPPY=1 >"$results/build-module.out" 2>&1; then
		tail -30 "$results/build-module.out" >&2
		note "guest: btt_rs.ko build" 0 1 0
		return
	fi
	if grep -q 'warning' "$BTT_TOP/build/debug/build-module.log"; then
		grep -A8 'warning' "$BTT_TOP/build/debug/build-module.log" | head -30 >&2
		failures+=("[build] btt_rs.ko: warnings under CLIPPY=1 (build/debug/build-module.log)")
		note "build: btt_rs.ko (CLIPPY=1, no warning)" 0 1 0
	else
		note "build: btt_rs.ko (CLIPPY=1, no warning)" 1 0 0
	fi
	# Built once here, before jobs share it (the first boot below builds the initramfs).
	(cd "$BTT_TOP/rust" && cargo build -q -p btt_tool) >"$results/btt-tool-build.log" 2>&1
	jobs_dir=$results/jobs
	mkdir -p "$jobs_dir"

	# Alone: parallel vCPUs (multi-threaded TCG: one host thread per vCPU).
	# Rounds of writers, readers and CPU hogs on 4 vCPUs, 512/4096 sectors.
	over_budget btt-stress-rs || BTT_TCG_THREADS=multi guest_boot btt-stress-rs --fresh --img "$BTT_TOP/build/btt-stress.img" --cpus 4 -- sh $st/btt_stress.sh rs 2 5
	# Many more writers than lanes (the load that exposed the C lane race), on 4
	# vCPUs that run at the same time.
	over_budget stress-rs || BTT_TCG_THREADS=multi guest_boot stress-rs --fresh --img "$BTT_TOP/build/stress.img" --cpus 4 -- sh $st/stress.sh rs
	# The lifecycle suite (below, on kasan, single-threaded) once more with 4 vCPUs
	# that run at the same time: disable, unbind and rmmod while bios run on the
	# other CPUs (debug kernel: KASAN under multi-threaded TCG is too slow here).
	over_budget lifecycle-rs-smp || BTT_TCG_THREADS=multi guest_boot lifecycle-rs-smp --fresh --img "$BTT_TOP/build/lifecycle-smp.img" --cpus 4 -- sh $st/lifecycle.sh rs
	# Damaged images: btt_rs refuses (naming the field) or serves intact data, never
	# writes; the C driver's outcome beside it (3 boots, two of them side by side).
	over_budget bad-images || ktap_script bad-images "$BTT_TOP/tools/testing/bad-images/run.sh" --out "$results/bad-images/work"

	# The upstream form (make patches): the series applies to 7.3, checkpatch
	# --strict finds no error, and it builds in-tree with CLIPPY=1 (no guest;
	# about 4 minutes, most of it copying the cached trees).
	job_start ktap_script patches "$BTT_TOP/tools/testing/patches/check.sh"
	# The Rust driver: lanes and KUnit, sector mode, reboot persistence.
	BTT_FLAVOUR=kasan job_start guest_boot kunit -- sh $st/kunit.sh
	job_start rs_sector_mode_job
	# One format: what either driver writes, the other reads, in one boot.
	job_start cross_driver_job
	# Discard and write-zeroes (the map's zero flag): blkdiscard, -z, ext4 discard
	# and fstrim on btt_rs, then the C driver reads the same data and zeroes.
	job_start guest_boot discard --fresh --img "$BTT_TOP/build/discard.img" --size 512 --timeout 1800 -- sh $st/discard.sh
	# Integrity metadata from user space (io_uring PI attribute) on the five
	# metadata sizes, with both drivers and across them.
	job_start guest_boot integrity --fresh --img "$BTT_TOP/build/integrity.img" --timeout 1800 -- sh $st/integrity.sh
	# Over 512 GiB (sparse backing file): several arenas, boundaries, both drivers, reboot.
	job_start multi_arena_job
	# The pre-4.15 flog padding, repair for sector sizes ndctl cannot check,
	# zero-flagged entries on 512-byte sectors (btt_rs, stock and patched nd_btt).
	job_start btt_tool_images_job
	# The debugfs view ndctl reads, against the C driver's; loading next to nd_btt.
	job_start guest_boot debugfs --fresh --img "$BTT_TOP/build/dbg.img" -- sh $st/debugfs.sh
	# virtio-pmem flushes sleep: btt_rs must stay clean there (C shown for comparison).
	job_start virtio_pmem_job
	# Lifecycle under fio load: disable-namespace, unbind, rmmod; 20 attach/detach cycles; leaks.
	BTT_FLAVOUR=kasan job_start guest_boot lifecycle-rs --fresh --img "$BTT_TOP/build/lifecycle.img" -- sh $st/lifecycle.sh rs
	# Every other way the kernel reaches an attached BTT (region read_only, region
	# cycles with the disk closed and open, sector -> raw -> sector, destroy while
	# attached), with each driver: nd_pmem reads nd_btt->btt as a C struct btt.
	job_start kernel_paths_job
	# Seeded mutations of a BTT image (info blocks, flog, map, random metadata bytes)
	# attached by btt_rs in one boot, plus every saved regression case: refused
	# images never written, served ones `btt check`-clean afterwards, no splat.
	BTT_FLAVOUR=kasan job_start ktap_script fuzz-guest "$BTT_TOP/tools/testing/fuzz-guest/run.sh" --seed "${BTT_FUZZ_SEED:-$(date +%Y%m%d)}" \
		--count 30 --out "$results/fuzz-guest/work"
	# The C driver: the reference the Rust driver is held to.
	job_start c_sector_mode_job
	# Power cuts: QEMU SIGKILLed 3 times while btt_rs writes, every sector verified
	# after each cut (make soak: 1000; the C driver: run.sh --driver c).
	job_start powercut_suite powercut-rs-3-cuts --driver rs --iterations 3
	job_start ndctl_job
	jobs_merge
}

# The whole run is one function, parsed before it starts, and the line that
# calls it also exits: editing this file while a run is under way (bash reads
# scripts as it goes) cannot break it. (A separate `exit` line did not: bash
# read on from its old offset into the edited file and failed after the
# summary.)
run_t0=$SECONDS
main() {
	local start
	start=$(date +%s)
	case ${BTT_TEST_ONLY:-all} in
	host) host_suites; style_suite ;;
	guest) guest_suites ;;
	*) host_suites; style_suite; guest_suites ;;
	esac

	echo
	echo "btt-rs test summary ($(( $(date +%s) - start )) s; logs in $results):"
	printf '  %s\n' "${summary[@]}"
	if [ ${#failures[@]} -gt 0 ]; then
		echo "failed test points (with the diagnostics before them):"
		printf '  %s\n' "${failures[@]:0:40}"
		[ ${#failures[@]} -le 40 ] || echo "  ... $((${#failures[@]} - 40)) more lines in $results"
	fi
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}
main "$@"; exit $?
