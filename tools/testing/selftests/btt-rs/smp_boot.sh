#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# One boot of the multi-threaded TCG check (scripts/mttcg-boots.sh boots it N
# times): every vCPU came up, loading btt_rs patches kernel text (jump labels,
# static calls) while the other vCPUs run, one writer per CPU then writes and
# reads back its own slice of a sector namespace, and dmesg stays clean. QEMU
# 7.2's multi-threaded TCG sometimes ran a stale translation of patched text
# here ("Oops: int3"); this is what would show it again.
# Usage: smp_boot.sh EXPECTED_CPUS
. /btt/tools/testing/guest/lib.sh
WANT=${1:?expected CPU count}
CPUS=$(grep -c ^processor /proc/cpuinfo)

ktap_header 5
if [ "$CPUS" = "$WANT" ]; then ktap_ok "$CPUS CPUs online"; else ktap_not_ok "$CPUS CPUs online, expected $WANT"; fi
ktap_check "load the nvdimm stack with btt_rs" nd_load rs
json=$(ndctl create-namespace -f -e namespace0.0 -m sector -l 4096 2>&1)
dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
if [ -b "/dev/$dev" ]; then ktap_ok "create-namespace -m sector ($dev)"; else
	echo "$json" | sed 's/^/# /'; ktap_not_ok "create-namespace -m sector"; fi
# One writer per CPU, each on its own 4 MiB slice, all at once; then each slice
# is read back and compared with what was written.
bad=0 pids=
for i in $(seq 0 $((CPUS - 1))); do
	(dd if=/dev/urandom of=/tmp/slice$i bs=1M count=4 2>/dev/null &&
		dd if=/tmp/slice$i of=/dev/$dev bs=64k seek=$((i * 64)) oflag=direct conv=notrunc 2>/dev/null) &
	pids="$pids $!"
done
for p in $pids; do wait $p || bad=$((bad + 1)); done
for i in $(seq 0 $((CPUS - 1))); do
	[ "$(read_sum /dev/$dev 64k 64 $((i * 64)))" = "$(file_sum /tmp/slice$i)" ] || bad=$((bad + 1))
done
if [ $bad = 0 ]; then ktap_ok "$CPUS parallel writers: every slice reads back"; else ktap_not_ok "$CPUS parallel writers: $bad slices failed"; fi
ktap_check "dmesg clean" dmesg_clean
ktap_finish
