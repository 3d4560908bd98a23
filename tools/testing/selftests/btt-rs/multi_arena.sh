#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A namespace over 512 GiB, so the BTT has several arenas (the backing file is
# sparse: only metadata and the sectors written here take host disk). For every
# arena: its first and last sector, and an 8 KiB write straddling each arena
# boundary; written by one driver, read back by the other in the same boot, and
# by btt_rs again after a reboot. Attach times of both drivers are reported.
# Usage: multi_arena.sh create|verify   (boot with qemu-run.sh --size >= 530000)
. /btt/tools/testing/guest/lib.sh
PHASE=${1:?create|verify}
STATE=/out/multi_arena.state
DBG=/sys/kernel/debug/btt
[ -d /sys/kernel/debug/btt ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null

now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
# attach_ms NS: disable and enable the namespace, prints the enable time in ms.
attach_ms() {
	ndctl disable-namespace "$1" >/dev/null 2>&1
	t0=$(now_ms)
	ndctl enable-namespace "$1" >/dev/null 2>&1 || return 1
	echo $(($(now_ms) - t0))
}
# The LBAs to check: first and last of each arena, from debugfs, plus the
# 2-block straddle at each boundary (its first block is the arena's last).
points() {
	start=0
	for a in "$DBG"/*/arena*; do
		n=$(($(cat "$a/external_nlba")))
		echo "first $start"
		echo "last $((start + n - 1))"
		start=$((start + n))
	done
}
check_all() { # TAG
	bad=0
	while read -r lba sum; do
		[ "$(read_sum /dev/$dev 4096 1 "$lba")" = "$sum" ] || { diag "$1: lba $lba differs"; bad=1; }
	done <$STATE
	return $bad
}

case $PHASE in
create)
	ktap_header 12
	ktap_check "load the nvdimm stack with btt_rs" nd_load rs
	ndctl disable-region all >/dev/null 2>&1
	ndctl init-labels -f all >/dev/null 2>&1
	ndctl enable-region all >/dev/null 2>&1
	t0=$(now_ms)
	json=$(ndctl create-namespace -r region0 -m sector -l 4096 2>&1)
	t1=$(now_ms)
	dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
	ns=$(echo "$json" | grep -o '"dev":"[^"]*"' | head -1 | cut -d'"' -f4)
	if [ -b "/dev/$dev" ]; then ktap_ok "btt_rs creates a $(($(blockdev --getsize64 /dev/$dev) >> 30)) GiB sector namespace ($ns, $dev) in $((t1 - t0)) ms"; else
		echo "$json" | sed 's/^/# /'; ktap_not_ok "btt_rs creates the namespace"; fi
	narenas=$(ls -d "$DBG"/*/arena* 2>/dev/null | wc -l)
	if [ "$narenas" -ge 2 ]; then ktap_ok "the BTT has $narenas arenas"; else ktap_not_ok "the BTT has several arenas ($narenas)"; fi
	echo "$ns $dev" >/out/multi_arena.dev
	: >$STATE
	ok=0
	for p in $(points | cut -d' ' -f2); do
		write_pattern /dev/$dev 4096 1 "$p" /tmp/one || ok=1
		echo "$p $(file_sum /tmp/one)" >>$STATE
	done
	# Straddles: the last block of each arena but the last, and the next one, in one bio.
	for p in $(points | grep '^last' | cut -d' ' -f2 | sed '$d'); do
		write_pattern /dev/$dev 4096 2 "$p" /tmp/two || ok=1
		dd if=/tmp/two bs=4096 count=1 2>/dev/null | sha256sum | cut -d' ' -f1 | sed "s/^/$p /" >>$STATE
		dd if=/tmp/two bs=4096 skip=1 count=1 2>/dev/null | sha256sum | cut -d' ' -f1 | sed "s/^/$((p + 1)) /" >>$STATE
	done
	awk '{last[$1]=$2} END {for (k in last) print k, last[k]}' $STATE | sort -n >/tmp/s && cp /tmp/s $STATE
	diag "checked sectors: $(tr '\n' ' ' <$STATE | awk '{for (i=1;i<=NF;i+=2) printf "%s ", $i}')"
	if [ $ok = 0 ]; then ktap_ok "btt_rs writes first/last sectors of every arena and across each boundary"; else ktap_not_ok "btt_rs writes"; fi
	ktap_check "btt_rs reads them back" check_all rs
	ms=$(attach_ms "$ns") && ktap_ok "btt_rs re-attaches in $ms ms" || ktap_not_ok "btt_rs re-attaches"
	ktap_check "switch to the C driver" nd_switch c
	ms=$(attach_ms "$ns") && ktap_ok "C nd_btt attaches in $ms ms" || ktap_not_ok "C nd_btt attaches"
	ktap_check "C reads what btt_rs wrote" check_all c
	# C writes new data at the same places; btt_rs must read it.
	: >/tmp/new
	while read -r lba sum; do
		write_pattern /dev/$dev 4096 1 "$lba" /tmp/one && echo "$lba $(file_sum /tmp/one)" >>/tmp/new
	done <$STATE
	cp /tmp/new $STATE
	ktap_check "switch back to btt_rs" nd_switch rs
	ktap_check "btt_rs reads what C wrote" check_all rs
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	;;
verify)
	ktap_header 4
	ktap_check "load the nvdimm stack with btt_rs" nd_load rs
	read -r ns dev </out/multi_arena.dev
	ms=$(attach_ms "$ns") && ktap_ok "btt_rs attaches after reboot in $ms ms" || ktap_not_ok "btt_rs attaches after reboot"
	ktap_check "every checked sector survives the reboot" check_all reboot
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	;;
esac
ktap_finish
