#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of `tools/testing/nvdimm-ndctl/run.sh --stale-rtt`: reproduces the
# bug that scripts/patches/nd_btt/0001 fixes in the C driver, on the nfit_test
# bus, and shows the fix.
#
# btt_read_pg() publishes the block it will read in its lane's read tracking
# table (RTT) entry, then reads the map entry again. When the entry gained the
# error flag meanwhile (another reader's media error on the same block), the
# stock driver returns EIO without clearing its RTT entry. Once a write moves
# that block to its lane's free list, the next write on that lane is given the
# block and spins until the RTT entry changes, which only a read on that lane
# can do, and the writer holds the lane.
#
# The window is a few instructions wide, so both nd_btt builds carry a
# test-only delay there (nd_btt-test-read-delay.patch: the module parameter
# test_read_recheck_delay_ms), and log lines: a read entering the delay, a map
# entry that changed under a read, a write that waits for an RTT entry naming
# its block. Per build, on a fresh 4096-byte sector namespace:
#   1. lba 200 (never written, so its map entry names block 200) gets a media
#      error injected under its data block, known to the namespace's badblocks
#      after an ARS scrub;
#   2. with a 4 s delay, reader A (CPU 0) reads lba 200, and reader B (CPU 1)
#      2 s after A entered the delay: A's data read fails and sets the error
#      flag while B sleeps between its RTT store and its second map read; both
#      get EIO;
#   3. a write of lba 200 on CPU 1 moves block 200 (error cleared) to lane 1's
#      free list; the next write on CPU 1 (lba 300) is given block 200.
# The fixed build (0001 and 0002, then the delay) must complete that write and
# read the data back; the stock build (the delay alone) is expected to leave it
# spinning on lane 1's RTT entry (a test point, so that a kernel that fixes it
# shows). The stock build runs last: its writer holds lane 1 until power-off.
#
# Usage (from the runner): btt-stale-rtt.guest.sh; needs /out/nd_btt_fixed.ko
# and /out/nd_btt_stock.ko, both built with the delay patch.
. /btt/tools/testing/guest/lib.sh

export NDCTL=/opt/ndctl/bin/ndctl LD_LIBRARY_PATH=/opt/ndctl/lib
MODPROBE=/usr/sbin/modprobe DEPMOD=/usr/sbin/depmod
BUS=nfit_test.0
LBA=200 NEXT=300
DELAY=/sys/module/nd_btt/parameters/test_read_recheck_delay_ms

# util-linux's hexdump, by path: busybox sh would run its own applet, which
# knows no 8-byte integers.
le32() { /usr/bin/hexdump -s "$2" -n 4 -e '1/4 "%u"' "$1"; }
le64() { /usr/bin/hexdump -s "$2" -n 8 -e '1/8 "%u"' "$1"; }
since_mark() { dmesg | tail -n +$((mark + 1)); }
# q CMD...: runs CMD quietly (ndctl reports on stderr), showing its output as
# KTAP diagnostics only when it fails.
q() {
	_o=$("$@" 2>&1) && return 0
	_rc=$?
	echo "$_o" | sed 's/^/# /'
	return $_rc
}
# wait_log PATTERN SECS: until the kernel log since the mark matches PATTERN.
wait_log() {
	_i=0
	until since_mark | grep -q "$1"; do
		[ $_i -lt $(($2 * 10)) ] || return 1
		sleep 0.1
		_i=$((_i + 1))
	done
}

# setup: a fresh sector namespace on nfit_test.0 (v1.2 labels, as ndctl's
# resetV makes them) whose lba $LBA lies on poisoned media; sets dev, blockdev.
setup() {
	q $NDCTL disable-region -b $BUS all && q $NDCTL init-labels -f -V 1.2 -b $BUS all &&
		q $NDCTL enable-region -b $BUS all || return 1
	_json=$($NDCTL create-namespace -b $BUS -t pmem -m sector -l 4096) || return 1
	dev=$(echo "$_json" | jq -r .dev)
	blockdev=$(echo "$_json" | jq -r .blockdev)
	[ -b "/dev/$blockdev" ] || { diag "no block device in: $_json"; return 1; }
	# The raw namespace, to find the block and to clear any badblocks nfit_test
	# starts with.
	q $NDCTL disable-namespace "$dev" && echo 1 >"/sys/bus/nd/devices/$dev/force_raw" &&
		q $NDCTL enable-namespace "$dev" || return 1
	_raw=/dev/${blockdev%s}
	[ -b "$_raw" ] || { diag "no raw device $_raw"; return 1; }
	while read -r _s _n; do
		dd if=/dev/zero of="$_raw" oflag=direct bs=512 seek="$_s" count="$_n" 2>/dev/null
	done <"/sys/block/${blockdev%s}/badblocks"
	# The info block: at 0 with v1.2 labels, at 4096 with v1.1.
	_info=$(btt_info_offset "$_raw") || { diag "no BTT info block at 0 or 4096 of $_raw"; return 1; }
	_lbasize=$(le32 "$_raw" $((_info + 64)))
	_block=$(((_info + $(le64 "$_raw" $((_info + 88))) + LBA * _lbasize) / 512))
	diag "$dev: info block at $_info, internal sector $_lbasize bytes; lba $LBA's block at 512-byte sector $_block"
	q $NDCTL inject-error --block="$_block" --count=$((_lbasize / 512)) "$dev" &&
		q $NDCTL start-scrub $BUS && q $NDCTL wait-scrub $BUS || return 1
	grep -q "^$_block " "/sys/block/${blockdev%s}/badblocks" ||
		{ diag "badblocks: $(tr '\n' ' ' <"/sys/block/${blockdev%s}/badblocks")"; return 1; }
	q $NDCTL disable-namespace "$dev" && echo 0 >"/sys/bus/nd/devices/$dev/force_raw" &&
		q $NDCTL enable-namespace "$dev" || return 1
	[ -b "/dev/$blockdev" ]
}

# readers: A on CPU 0, B on CPU 1 2 s after A entered the delay (4 s), both
# of lba $LBA.
readers() {
	echo 4000 >$DELAY || return 1
	taskset -c 0 dd if="/dev/$blockdev" of=/dev/null bs=4096 skip=$LBA count=1 iflag=direct 2>/tmp/a.err &
	_a=$!
	wait_log "test: lane 0, lba $LBA: RTT entry set to block $LBA, sleeping" 10 ||
		diag "reader A did not enter the delay within 10 s"
	sleep 2
	taskset -c 1 dd if="/dev/$blockdev" of=/dev/null bs=4096 skip=$LBA count=1 iflag=direct 2>/tmp/b.err &
	_b=$!
	wait $_a
	_ra=$?
	wait $_b
	_rb=$?
	echo 0 >$DELAY
	diag "reader A: exit $_ra ($(tr '\n' ' ' </tmp/a.err)); reader B: exit $_rb ($(tr '\n' ' ' </tmp/b.err))"
	since_mark | grep 'test: lane' | sed 's/^/# dmesg: /'
	# Both fail with EIO, and B saw the error flag appear under its read on
	# lane 1.
	[ $_ra != 0 ] && [ $_rb != 0 ] && grep -q 'Input/output error' /tmp/a.err &&
		grep -q 'Input/output error' /tmp/b.err && since_mark | grep -q "test: lane 1, lba $LBA: map entry changed under the read (block $LBA to $LBA, zero flag 0, error flag 1)"
}

# write_on_cpu1 LBA FILE: writes FILE's 4 KiB to LBA from CPU 1, bounded.
write_on_cpu1() {
	bounded 30 taskset -c 1 dd if="$2" of="/dev/$blockdev" bs=4096 seek="$1" count=1 oflag=direct conv=fsync 2>/dev/null
}
reads_back() { dd if="/dev/$blockdev" bs=4096 skip="$1" count=1 iflag=direct 2>/dev/null | cmp -s - "$2"; }

ktap_header 11
head -c 4096 /dev/urandom >/tmp/data.$LBA
head -c 4096 /dev/urandom >/tmp/data.$NEXT
for build in fixed stock; do
	if [ $build = fixed ]; then what="nd_btt with patches 0001 and 0002"; else what="stock nd_btt ($KVER)"; fi
	mark=$(dmesg | wc -l)
	# Not loaded before: this build's module is the one modprobe loads.
	[ ! -d /sys/module/nd_btt ] && cp "/out/nd_btt_$build.ko" "$MODDIR/nd_btt.ko" && $DEPMOD &&
		_out=$(nfit_stack_load nd_btt 2>&1 && $MODPROBE nfit_test 2>&1) && [ -f $DELAY ] && setup
	if [ $? != 0 ]; then
		echo "$_out" | sed 's/^/# /'
		ktap_not_ok "$build: nfit_test stack with $what (and the test delay), lba $LBA on poisoned media"
		break
	fi
	ktap_ok "$build: nfit_test stack with $what (and the test delay), lba $LBA on poisoned media"

	readers
	ktap_result $? "$build: readers of lba $LBA on CPUs 0 and 1 both get EIO; B's map entry gains the error flag under its read"

	write_on_cpu1 $LBA /tmp/data.$LBA
	ktap_result $? "$build: a write of lba $LBA on CPU 1 completes (moving its old block to lane 1's free list)"

	stuck=
	write_on_cpu1 $NEXT /tmp/data.$NEXT
	rc=$?
	if [ $build = fixed ]; then
		[ $rc = 0 ] && reads_back $LBA /tmp/data.$LBA && reads_back $NEXT /tmp/data.$NEXT
		ktap_result $? "fixed: the next write on CPU 1 (lba $NEXT, given that block) completes; both sectors read back"
	else
		# Expected: still spinning in btt_write_pg() on CPU 1, on the RTT
		# entry of lane 1, which names the block.
		if [ $rc = 124 ]; then
			diag "the writer (pid $stuck) is still running after 30 s: $(cut -d' ' -f3 /proc/$stuck/stat) state"
		else
			diag "the writer ended: exit $rc"
		fi
		since_mark | grep 'write waits for RTT entry' | sed 's/^/# dmesg: /'
		[ $rc = 124 ] && since_mark | grep -q "test: lane 1: write waits for RTT entry 1, which names block $LBA"
		ktap_result $? "stock: the next write on CPU 1 (lba $NEXT, given that block) spins on the RTT entry reader B left (still running after 30 s)"
	fi

	# No splat (the stock driver's hang is silent: it spins preemptibly).
	_bad=$(since_mark | grep -E "$DMESG_BAD")
	[ -z "$_bad" ]
	ktap_result $? "$build: no kernel splat"
	[ -z "$_bad" ] || echo "$_bad" | head -30 | sed 's/^/# dmesg: /'

	if [ $build = fixed ]; then
		_out=$(nfit_stack_unload 2>&1)
		_rc=$?
		ktap_result $_rc "fixed: the nfit_test stack unloads"
		echo "$_out" | grep . | sed 's/^/# /'
		[ $_rc = 0 ] || break
	elif [ -n "$stuck" ] && [ -w /proc/sysrq-trigger ]; then
		# Where CPU 1 is: the backtraces of the busy CPUs.
		mark=$(dmesg | wc -l)
		echo l >/proc/sysrq-trigger
		sleep 2
		since_mark | grep -E 'CPU: 1|btt_write_pg|btt_submit_bio' | head -8 | sed 's/^/# sysrq-l: /'
	fi
done
ktap_finish
