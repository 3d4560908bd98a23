# SPDX-License-Identifier: GPL-2.0
# Shell library for btt-rs guest tests (busybox sh). Source it from a test.
#
# Provides: KTAP output (ktap_*), loading the nvdimm stack with either BTT driver
# (nd_load c|rs, nd_switch), namespace helpers, and the dmesg check that fails a
# run on any WARN, BUG, lockdep report or sleep-in-atomic splat.

KVER=$(uname -r)
MODDIR=/lib/modules/$KVER
FLAVOUR=$(sed -n 's/.*btt\.flavour=\([a-z]*\).*/\1/p' /proc/cmdline)
FLAVOUR=${FLAVOUR:-debug}
BTT_RS_KO=${BTT_RS_KO:-/btt/build/$FLAVOUR/btt_rs.ko}

# ---- KTAP -------------------------------------------------------------------
KTAP_N=0
KTAP_FAIL=0
ktap_header() { # plan
	echo "TAP version 13"
	echo "1..$1"
}
ktap_ok() {
	KTAP_N=$((KTAP_N + 1))
	echo "ok $KTAP_N $*"
}
ktap_not_ok() {
	KTAP_N=$((KTAP_N + 1))
	KTAP_FAIL=$((KTAP_FAIL + 1))
	echo "not ok $KTAP_N $*"
}
ktap_skip() {
	KTAP_N=$((KTAP_N + 1))
	echo "ok $KTAP_N $1 # SKIP ${2:-}"
}
diag() { echo "# $*"; }
# ktap_check NAME COMMAND...: one test point from a command's exit status.
ktap_check() {
	_name=$1
	shift
	if _out=$("$@" 2>&1); then
		ktap_ok "$_name"
	else
		echo "$_out" | sed 's/^/# /' | tail -20
		ktap_not_ok "$_name"
	fi
}
# ktap_result RC NAME: one test point from an exit status already taken.
ktap_result() {
	if [ "$1" = 0 ]; then ktap_ok "$2"; else ktap_not_ok "$2"; fi
}
ktap_finish() {
	diag "totals: pass:$((KTAP_N - KTAP_FAIL)) fail:$KTAP_FAIL"
	[ "$KTAP_FAIL" = 0 ]
}

# ---- the nvdimm stack ----------------------------------------------------------
# nd_load c|rs: loads libnvdimm, dax, the chosen BTT driver, nd_pmem and nfit.
nd_load() {
	insmod $MODDIR/libnvdimm.ko || return 1
	insmod $MODDIR/dax.ko || return 1
	nd_load_btt "$1" || return 1
	insmod $MODDIR/nd_pmem.ko || return 1
	nd_load_nfit || return 1
	nd_settle
}
# nd_load_nfit: loads nfit, the ACPI NFIT driver that registers the NVDIMMs.
# nfit asks the firmware about each _DSM function of a DIMM's command set with
# one AML evaluation apiece (32 for the Intel set), about 0.8 s each under KASAN
# and TCG; QEMU's NVDIMM offers only the three label functions (get size, get
# data, set data: dsm_mask 0x70, the same with or without this limit). Probing
# just those takes a load from 46 s to 19 s per DIMM and changes nothing the
# nvdimm stack does.
nd_load_nfit() {
	insmod $MODDIR/nfit.ko override_dsm_mask=0x70
}
nd_load_btt() {
	case $1 in
	c) insmod $MODDIR/nd_btt.ko || return 1 ;;
	rs | rs1)
		[ -f "$BTT_RS_KO" ] || { diag "no $BTT_RS_KO: build it with 'make module'"; return 1; }
		# rs1: sector by sector (write_batch=1), as before write batches.
		if [ "$1" = rs1 ]; then insmod "$BTT_RS_KO" write_batch=1; else insmod "$BTT_RS_KO"; fi || return 1
		;;
	*.ko) insmod "$1" || return 1 ;; # a BTT driver built elsewhere (zero_flag.sh: patched nd_btt)
	*.ko@*) # FILE.ko@PARAM=VALUE[,PARAM=VALUE]: with module parameters
		# shellcheck disable=SC2046
		insmod "${1%%@*}" $(echo "${1#*@}" | tr , ' ') || return 1
		;;
	*) diag "nd_load_btt: unknown driver '$1'"; return 1 ;;
	esac
}
# Removes whichever BTT driver is loaded (read from sysfs: callers may run in a
# subshell, so no shell variable could be trusted to know).
nd_unload_btt() {
	if [ -d /sys/module/btt_rs ]; then rmmod btt_rs; fi || return 1
	if [ -d /sys/module/nd_btt ]; then rmmod nd_btt; fi
}
# nd_switch c|rs|rs1|FILE.ko[@PARAMS]: swaps the BTT driver under a loaded stack (nd_pmem is reloaded).
nd_switch() {
	if [ -d /sys/module/nd_pmem ]; then rmmod nd_pmem || return 1; fi
	nd_unload_btt || return 1
	nd_load_btt "$1" || return 1
	insmod $MODDIR/nd_pmem.ko || return 1
	nd_settle
}
nd_unload() {
	# An enabled region keeps a reference on nfit.
	ndctl disable-region all >/dev/null 2>&1
	rmmod nfit nd_pmem || return 1
	nd_unload_btt || return 1
	rmmod dax || return 1
	rmmod_wait libnvdimm
}
# rmmod_wait MODULE: removes MODULE if it is loaded. A module can stay busy for
# a moment after its last user left (libnvdimm's last references go away
# asynchronously: EAGAIN), so a refusal is retried for 5 s.
rmmod_wait() {
	_i=0
	while [ -d /sys/module/$1 ] && ! rmmod $1 2>/dev/null; do
		_i=$((_i + 1))
		if [ $_i -ge 50 ]; then
			diag "$1 still in use: refcnt $(cat /sys/module/$1/refcnt 2>/dev/null), holders: $(ls /sys/module/$1/holders 2>/dev/null)"
			return 1
		fi
		sleep 0.1
	done
}
# nfit_stack_load BTT_MODULE: modprobes the nvdimm stack of the nfit_test bus
# (tools/testing/nvdimm-ndctl), all but nfit_test itself, with BTT_MODULE (nd_btt or
# btt_rs) as the BTT driver. Needs $MODPROBE (kmod's, which knows the test
# modules' directory).
nfit_stack_load() {
	for _m in nfit_test_iomap libnvdimm dax ${1:?nfit_stack_load: which BTT module?} nd_pmem device_dax dax_pmem nfit; do
		$MODPROBE $_m || return 1
	done
}
# nfit_stack_unload: removes nfit_test and the whole nvdimm stack, whichever
# BTT driver it holds. Every region is disabled first, the QEMU NVDIMM's
# (ACPI.NFIT) too: nfit stays busy while any is enabled. Needs $NDCTL and
# $MODPROBE.
nfit_stack_unload() {
	$NDCTL disable-region all >/dev/null 2>&1
	# modprobe -r takes nfit_test's unused dependencies with it; whatever it
	# leaves (a module still busy) is removed one by one after it.
	if [ -d /sys/module/nfit_test ]; then $MODPROBE -r nfit_test; fi
	for _m in nfit_test nfit dax_pmem device_dax nd_pmem btt_rs nd_btt dax libnvdimm nfit_test_iomap; do
		rmmod_wait $_m || return 1
	done
}
# Waits until libnvdimm's asynchronous device registration and probing are done
# (what ndctl's wait-probe does): reading a bus device's wait_probe runs
# nd_synchronize(). The attribute is on each ndbus device, not on /sys/bus/nd.
nd_wait_probe() {
	for _b in /sys/bus/nd/devices/ndbus*; do
		[ -e "$_b/wait_probe" ] && cat "$_b/wait_probe" >/dev/null 2>&1
	done
	return 0
}
# Waits until region0 exists and probing is done.
nd_settle() {
	i=0
	while [ ! -e /sys/bus/nd/devices/region0 ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e /sys/bus/nd/devices/region0 ] || { diag "region0 did not appear"; return 1; }
	nd_wait_probe
}
# wait_btt_disks [N]: waits (up to 10 s) until N (default 1) BTT disks
# (/sys/block/*s) exist: BTT devices probe asynchronously after nd_pmem.
wait_btt_disks() {
	_i=0
	while [ "$(ls /sys/block | grep -c 's$')" -lt "${1:-1}" ] && [ $_i -lt 100 ]; do
		sleep 0.1
		_i=$((_i + 1))
	done
	[ "$(ls /sys/block | grep -c 's$')" -ge "${1:-1}" ]
}
# Which module serves BTT block devices right now.
btt_driver_name() {
	if [ -d /sys/module/btt_rs ]; then echo "btt_rs (Rust)"
	elif [ -d /sys/module/nd_btt ]; then echo "nd_btt (C)"
	else echo none; fi
}

# ---- data ------------------------------------------------------------------------
# write_pattern DEV BS COUNT SEEK FILE: random data to DEV with O_DIRECT, kept in FILE.
write_pattern() {
	dd if=/dev/urandom of="$5" bs="$2" count="$3" 2>/dev/null || return 1
	dd if="$5" of="$1" bs="$2" count="$3" seek="$4" oflag=direct conv=notrunc 2>/dev/null
}
# read_sum DEV BS COUNT SKIP: sha256 of a range read with O_DIRECT.
read_sum() {
	dd if="$1" bs="$2" count="$3" skip="$4" iflag=direct 2>/dev/null | sha256sum | cut -d' ' -f1
}
file_sum() { sha256sum "$1" | cut -d' ' -f1; }

# vpmem_flushes: flush requests sent to the host so far by the virtio-pmem
# device (the interrupts of its one queue, summed over CPUs; on an INTx line
# named after the device or an MSI-X vector named DEVICE-flush_queue). Each
# request is completed by one interrupt and waited for before the next is
# sent, and the device raises no others once set up. "-" if none is found.
vpmem_flushes() {
	_vdev=$(ls /sys/bus/virtio/drivers/virtio_pmem 2>/dev/null | grep -m1 '^virtio')
	awk -v d="$_vdev" 'd != "" && ($NF == d || $NF == d "-flush_queue") {
		for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s += $i; f = 1 }
	     END {if (f) print s; else print "-"}' /proc/interrupts
}

# btt_info_offset RAWDEV: the byte offset of the BTT's first info block on a
# namespace in raw mode (0 with v1.2 labels, 4096 with v1.1 or none); fails if
# neither holds one.
btt_info_offset() {
	for _o in 0 4096; do
		[ "$(dd if="$1" bs=1 skip=$_o count=14 2>/dev/null)" = BTT_ARENA_INFO ] && { echo $_o; return 0; }
	done
	return 1
}

# ---- tasks ---------------------------------------------------------------------
# bounded SECS CMD...: runs CMD in the background and returns its exit status,
# or 124 with $stuck set to its pid if it still runs after SECS seconds (a
# task spinning in the kernel cannot be killed: it is left running).
bounded() {
	_secs=$1
	shift
	"$@" &
	_pid=$!
	_i=0
	while kill -0 $_pid 2>/dev/null; do
		if [ $_i -ge $((_secs * 10)) ]; then
			stuck=$_pid
			return 124
		fi
		sleep 0.1
		_i=$((_i + 1))
	done
	wait $_pid
}

# ---- dmesg ---------------------------------------------------------------------
DMESG_BAD='WARNING:|BUG:|Oops|general protection|possible recursive locking|circular locking dependency|inconsistent lock state|irq lock inversion|suspicious RCU usage|DEBUG_LOCKS_WARN_ON|lock held when returning|sleeping function called from invalid context|Invalid wait context|kernel BUG|Call Trace|unreferenced object|INFO: task .* blocked|soft lockup|hard LOCKUP|KASAN|UBSAN|refcount_t:'
# dmesg_clean [ALLOW_REGEX]: fails (printing the lines) on any splat in dmesg.
dmesg_clean() {
	_log=$(dmesg)
	_lines=$(echo "$_log" | wc -l)
	_bad=$(echo "$_log" | grep -E "$DMESG_BAD")
	if [ -n "${1:-}" ]; then _bad=$(echo "$_bad" | grep -vE "$1"); fi
	if [ -n "$_bad" ]; then
		echo "$_bad" | head -40 | sed 's/^/# dmesg: /'
		diag "dmesg: $_lines lines scanned, splats found"
		return 1
	fi
	diag "dmesg: $_lines lines scanned, clean"
}
# Triggers a kmemleak scan and fails if it reports leaks.
kmemleak_clean() {
	[ -w /sys/kernel/debug/kmemleak ] || { diag "kmemleak not available"; return 0; }
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	_leaks=$(cat /sys/kernel/debug/kmemleak)
	[ -z "$_leaks" ] && return 0
	echo "$_leaks" | head -40 | sed 's/^/# kmemleak: /'
	return 1
}
