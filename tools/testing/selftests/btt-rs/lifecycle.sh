#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Lifecycle under load, in one boot: a sector namespace (4096-byte sectors) with
# 4 MiB of reference data written first; then, while fio writes (CRC32C-verified)
# and reads with O_DIRECT:
#   1. ndctl disable-namespace (it must return: wait for the I/O or fail cleanly),
#      then enable-namespace, and the reference data must read back intact;
#   2. the BTT device unbound from nd_pmem through sysfs, then bound again;
#   3. rmmod of the BTT driver (must fail while nd_pmem uses it), rmmod nd_pmem
#      (detaches the BTT under the running fio), rmmod of the BTT driver while
#      fio still holds the deleted disk open (must fail: the open disk holds the
#      module), and again once fio is gone (must succeed); reload, data intact;
#   4. CYCLES disable/enable-namespace cycles, each writing 64 KiB first and
#      checking it, every earlier cycle's 64 KiB and the reference afterwards;
#   5. the whole stack unloaded, kmemleak and dmesg clean.
# What each step did (return codes, messages, times) is printed as diagnostics.
# Usage: lifecycle.sh [rs|c] [CYCLES] [FIO_SECONDS]
. /btt/tools/testing/guest/lib.sh
DRIVER=${1:-rs}
CYCLES=${2:-20}
SECS=${3:-20}
case $DRIVER in rs) MOD=btt_rs ;; c) MOD=nd_btt ;; *) echo "usage: lifecycle.sh [rs|c]"; exit 2 ;; esac
ND=/sys/bus/nd/devices
REF_BLOCKS=1024   # 4 MiB of reference data at block 0
CYC_BASE=8192     # cycle chunks from 32 MiB, 16 blocks each
PLAN=26

ktap_header $PLAN
ktap_check "load the nvdimm stack with the $DRIVER BTT driver" nd_load "$DRIVER"
diag "BTT driver: $(btt_driver_name); fio runs ${SECS}s per load phase"
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1
ndctl enable-region all >/dev/null 2>&1
json=$(ndctl create-namespace -r region0 -m sector -l 4096 2>&1)
ns=$(echo "$json" | grep -o '"dev":"namespace[^"]*"' | cut -d'"' -f4)
# The namespace's BTT device and its block device, as they are now.
cur_btt() { cat $ND/$ns/holder 2>/dev/null; }
cur_dev() { ls $ND/"$(cur_btt)"/block 2>/dev/null | head -1; }
dev=$(cur_dev)
if [ -n "$ns" ] && [ -b "/dev/$dev" ]; then ktap_ok "create-namespace -m sector -l 4096 ($ns, $(cur_btt), $dev)"; else
	echo "$json" | sed 's/^/# /'; ktap_not_ok "create-namespace -m sector -l 4096"
	ktap_finish
	exit 1
fi
write_pattern /dev/$dev 4096 $REF_BLOCKS 0 /tmp/ref
REF_SUM=$(file_sum /tmp/ref)
ref_intact() { # reads the reference through the namespace's current block device
	_d=$(cur_dev)
	[ -n "$_d" ] || { echo "no block device for $ns"; return 1; }
	[ -b "/dev/$_d" ] || { echo "/dev/$_d is not a block device: $(ls -l /dev/$_d 2>&1)"; return 1; }
	_s=$(read_sum /dev/$_d 4096 $REF_BLOCKS 0)
	[ "$_s" = "$REF_SUM" ] || { echo "/dev/$_d: reference sha256 $_s, want $REF_SUM"; return 1; }
}
ktap_check "4 MiB reference data written and read back" ref_intact

# fio_start: writers (each its own 32 MiB slice from 64 MiB, CRC32C in every block,
# verified as they go) and readers of the reference, for SECS seconds. I/O errors
# (EIO, and ENOSPC once a deleted disk has capacity 0) do not stop it, so it keeps
# the block device open and busy through whatever happens to the BTT under it; a
# verification mismatch still does. When fio reopens its file (time_based) after
# the device node went away, it must fail, not create a regular file in /dev
# (allow_file_create=0): that would take its I/O, and the node's place.
fio_start() { # log
	fio --filename=/dev/$dev --direct=1 --ioengine=psync --bs=4k --time_based --runtime="$SECS" \
		--continue_on_error=io --ignore_error=EIO:ENOSPC:ENXIO:ENODEV,EIO:ENOSPC:ENXIO:ENODEV \
		--allow_file_create=0 \
		--name=writer --rw=randwrite --offset=64M --size=32M --offset_increment=32M --numjobs=2 \
		--verify=crc32c --verify_backlog=32 --verify_fatal=1 \
		--name=reader --rw=randread --offset=0 --size=16M --numjobs=2 >"$1" 2>&1 &
	FIO_PID=$!
	FIO_LOG=$1
	FIO_T0=$(date +%s)
	sleep 5 # fio up and the I/O under way
}
# A child that exited stays a zombie until waited for: kill -0 would still succeed.
fio_running() {
	_st=$(cut -d' ' -f3 /proc/"$FIO_PID"/stat 2>/dev/null)
	[ -n "$_st" ] && [ "$_st" != Z ]
}
# fio_wait: waits (at most SECS + 120 s) for fio; fails if it does not end.
fio_wait() {
	_i=0
	while fio_running; do
		_i=$((_i + 1))
		if [ $_i -gt $(((SECS + 120) * 2)) ]; then
			echo "fio (pid $FIO_PID) still running after $((SECS + 120)) s; state: $(cut -d' ' -f3 /proc/$FIO_PID/stat 2>/dev/null), stack:"
			cat /proc/$FIO_PID/stack 2>/dev/null | sed 's/^/  /'
			kill -9 "$FIO_PID" 2>/dev/null
			return 1
		fi
		sleep 0.5
	done
	wait "$FIO_PID"
	FIO_RC=$?
	FIO_DT=$(($(date +%s) - FIO_T0))
	return 0
}
# fio_end STEP: a test point: fio ends (no I/O hangs), with what it said.
fio_end() {
	if fio_wait >/tmp/fio_wait.out 2>&1; then ktap_ok "$1: fio ends (${FIO_DT}s after its start)"; else
		sed 's/^/# /' /tmp/fio_wait.out
		ktap_not_ok "$1: fio ends"
	fi
	fio_summary "$1"
}
# fio_summary STEP: what fio reported (diagnostics), and a test point: no
# verification mismatch.
fio_summary() {
	_errs=$(grep -oE 'err= *[0-9]+' "$FIO_LOG" | tr -d ' ' | sort | uniq -c | tr '\n' ' ' | tr -s ' ')
	_first=$(grep -m1 -iE 'error' "$FIO_LOG")
	diag "$1: fio exit $FIO_RC after ${FIO_DT}s; per-job err=: ${_errs:-none}; first error: ${_first:-none}"
	if grep -qiE 'verify:|bad magic|crc32c: wanted|bad header' "$FIO_LOG"; then
		grep -iE 'verify:|bad magic|crc32c|bad header' "$FIO_LOG" | head -5 | sed 's/^/#   /'
		ktap_not_ok "$1: fio saw no verification mismatch"
	else
		ktap_ok "$1: fio saw no verification mismatch"
	fi
}
# timed OUTVAR COMMAND...: runs it under a 120 s timeout, sets RC, DT (s), OUT.
timed() {
	_t=$(date +%s)
	OUT=$(timeout 120 "$@" 2>&1)
	RC=$?
	DT=$(($(date +%s) - _t))
}

# ---- 1. disable-namespace under load -----------------------------------------------
fio_start /tmp/fio1.log
fio_running && diag "1: fio running on /dev/$dev" || diag "1: fio ended before the disable: $(tail -3 /tmp/fio1.log)"
timed ndctl disable-namespace "$ns"
diag "1: ndctl disable-namespace under load: exit $RC after ${DT}s: $(echo "$OUT" | tr '\n' ' ')"
diag "1: fio still running after it: $(fio_running && echo yes || echo no); namespace holder '$(cur_btt)', driver '$(basename "$(readlink $ND/"$(cur_btt)"/driver 2>/dev/null)" 2>/dev/null)', block device '$(cur_dev)'"
if [ $RC -lt 124 ]; then ktap_ok "disable-namespace under fio load returns (exit $RC, ${DT}s)"; else
	ktap_not_ok "disable-namespace under fio load returns (timed out: exit $RC)"; fi
fio_end 1
timed ndctl enable-namespace "$ns"
[ $RC = 0 ] || diag "1: enable-namespace: exit $RC: $OUT"
dev=$(cur_dev)
ktap_check "1: enable-namespace after it ($dev)" test -b "/dev/$dev"
ktap_check "1: reference data intact after disable under load and enable" ref_intact

# ---- 2. unbind from nd_pmem under load ---------------------------------------------
btt=$(cur_btt)
fio_start /tmp/fio2.log
timed sh -c "echo $btt >/sys/bus/nd/drivers/nd_pmem/unbind"
diag "2: unbind $btt from nd_pmem under load: exit $RC after ${DT}s $OUT; block device now '$(cur_dev)'"
if [ $RC = 0 ] && [ -z "$(cur_dev)" ]; then ktap_ok "2: unbind $btt under fio load (${DT}s)"; else
	ktap_not_ok "2: unbind $btt under fio load (exit $RC, block device '$(cur_dev)')"; fi
fio_end 2
timed sh -c "echo $btt >/sys/bus/nd/drivers/nd_pmem/bind"
[ $RC = 0 ] || diag "2: bind: exit $RC: $OUT"
nd_wait_probe
dev=$(cur_dev)
ktap_check "2: bind $btt again ($dev)" test -b "/dev/$dev"
ktap_check "2: reference data intact after unbind under load and bind" ref_intact

# ---- 3. rmmod under load ---------------------------------------------------------------
fio_start /tmp/fio3.log
# Besides fio, a shell holds the block device open (read-only, idle) until told to
# stop: the open disk must keep the BTT driver loaded after nd_pmem detached it.
rm -f /tmp/hold.stop
[ -b "/dev/$dev" ] || diag "3: /dev/$dev is not a block device"
sh -c "exec 3</dev/$dev; while [ ! -e /tmp/hold.stop ]; do sleep 0.2; done" &
HOLD_PID=$!
sleep 1
diag "3: $MOD refcnt under load: $(cat /sys/module/$MOD/refcnt), holders: $(ls /sys/module/$MOD/holders | tr '\n' ' ')"
timed rmmod $MOD
diag "3: rmmod $MOD under load: exit $RC after ${DT}s: $OUT"
if [ $RC != 0 ] && [ -d /sys/module/$MOD ] && fio_running; then
	ktap_ok "3: rmmod $MOD under load refused, I/O goes on"
else ktap_not_ok "3: rmmod $MOD under load refused (exit $RC, module $([ -d /sys/module/$MOD ] && echo loaded || echo gone))"; fi
timed rmmod nd_pmem
diag "3: rmmod nd_pmem under load: exit $RC after ${DT}s: $OUT; fio running: $(fio_running && echo yes || echo no)"
if [ $RC = 0 ]; then
	ktap_ok "3: rmmod nd_pmem under load detaches the BTT (${DT}s)"
	diag "3: after it: fio running $(fio_running && echo yes || echo no), $MOD refcnt $(cat /sys/module/$MOD/refcnt), holders: $(ls /sys/module/$MOD/holders | tr '\n' ' ')"
	timed rmmod $MOD
	diag "3: rmmod $MOD while the deleted disk is open: exit $RC: $OUT"
	if [ $RC != 0 ] && [ -d /sys/module/$MOD ]; then ktap_ok "3: rmmod $MOD refused while the deleted disk is open"; else
		ktap_not_ok "3: rmmod $MOD refused while the deleted disk is open (exit $RC)"; fi
else
	ktap_ok "3: rmmod nd_pmem under load refused cleanly (exit $RC)"
	ktap_skip "3: rmmod $MOD while the deleted disk is open" "nd_pmem stayed"
fi
fio_end 3
touch /tmp/hold.stop
wait $HOLD_PID
[ -d /sys/module/nd_pmem ] && rmmod nd_pmem
ktap_check "3: rmmod $MOD once the disk is closed" rmmod $MOD
if nd_load_btt "$DRIVER" && insmod $MODDIR/nd_pmem.ko && nd_settle; then
	dev=$(cur_dev)
fi
ktap_check "3: reload $MOD and nd_pmem (${dev:-no block device})" test -b "/dev/$dev"
ktap_check "3: reference data intact after the reload" ref_intact

# ---- 4. attach/detach cycles -------------------------------------------------------------
cyc_ok() { # cycles 1..N: every chunk written so far
	_j=1
	while [ $_j -le "$1" ]; do
		_s=$(read_sum /dev/$dev 4096 16 $((CYC_BASE + _j * 16)))
		[ "$_s" = "$(file_sum /tmp/cyc-$_j)" ] || { diag "cycle $1: chunk of cycle $_j differs"; return 1; }
		_j=$((_j + 1))
	done
}
t=$(date +%s) i=1 bad=0
while [ $i -le "$CYCLES" ]; do
	if [ ! -b "/dev/$dev" ] || ! write_pattern /dev/$dev 4096 16 $((CYC_BASE + i * 16)) /tmp/cyc-$i; then
		diag "cycle $i: writing to /dev/$dev failed"
		bad=$((bad + 1))
	fi
	if ! ndctl disable-namespace "$ns" >/tmp/cyc.out 2>&1 || ! ndctl enable-namespace "$ns" >>/tmp/cyc.out 2>&1; then
		diag "cycle $i: $(tr '\n' ' ' </tmp/cyc.out)"
		bad=$((bad + 1))
	fi
	dev=$(cur_dev)
	if [ ! -b "/dev/$dev" ]; then diag "cycle $i: no block device"; bad=$((bad + 1))
	elif ! cyc_ok $i; then bad=$((bad + 1))
	elif ! _o=$(ref_intact); then diag "cycle $i: $_o"; bad=$((bad + 1)); fi
	i=$((i + 1))
done
dt=$(($(date +%s) - t))
if [ $bad = 0 ]; then ktap_ok "4: $CYCLES disable/enable-namespace cycles, data checked after each (${dt}s)"; else
	ktap_not_ok "4: $CYCLES disable/enable-namespace cycles: $bad failures"; fi
ktap_check "4: ndctl check-namespace" sh -c "ndctl disable-namespace $ns && ndctl check-namespace $ns && ndctl enable-namespace $ns"

# ---- 5. unload, leaks, splats ----------------------------------------------------------------
ktap_check "5: unload the nvdimm stack" nd_unload
ktap_check "5: kmemleak reports nothing" kmemleak_clean
ktap_check "5: dmesg free of WARN/BUG/lockdep/sleep-in-atomic/hung tasks" dmesg_clean
dmesg | grep -E "$MOD|nd_pmem|btt[0-9]" | grep -vE 'Subtest|# btt_rs_|ok [0-9]' | sed 's/^/# kmsg: /' | head -40
ktap_finish
