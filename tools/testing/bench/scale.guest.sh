#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest half of `make bench`'s scale part: on one namespace (the whole region,
# as large as the boot's NVDIMM), one BTT laid out by the C driver, then
# attached in turn by nd_btt, by btt_rs and by btt_rs with full_check=0 (both
# drivers read the same layout). For each: the time of `ndctl
# enable-namespace` (the attach: info blocks, flog, with full_check the whole
# map; /proc/uptime: 10 ms steps), best of REPS, and the kernel memory the
# attached namespace holds: slab objects (/proc/slabinfo after shrinking every
# cache, active objects times object size: byte-granular, unlike MemFree) plus
# vmalloc and per-CPU memory
# (/proc/meminfo), enabled minus disabled, caches dropped both times, smallest
# of REPS. It includes what both drivers share (gendisk, queue, sysfs nodes).
# Prints one line per driver: "# scale SIZE_MIB ARENAS DRIVER create_ms attach_ms mem_kib".
# Usage: scale.guest.sh REPS
. /btt/tools/testing/guest/lib.sh
REPS=${1:-2}

now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
# Kernel memory in use, bytes: slab objects + vmalloc + per-CPU. Every slab
# cache is shrunk first: SLUB counts the objects of a CPU's current slab as in
# use until that slab is flushed.
kmem_bytes() {
	for f in /sys/kernel/slab/*/shrink; do echo 1 >"$f"; done 2>/dev/null
	{ awk 'NR > 2 {s += $2 * $4} END {printf "%d\n", s}' /proc/slabinfo
	  awk '/^(VmallocUsed|Percpu):/ {s += $2 * 1024} END {printf "%d\n", s}' /proc/meminfo; } |
		awk '{s += $1} END {printf "%d", s}'
}
# measure NAME NS: best enable time over REPS and the memory it holds.
measure() {
	best= mem=
	r=0
	while [ $r -lt "$REPS" ]; do
		ndctl disable-namespace "$2" >/dev/null 2>&1
		sync; echo 3 >/proc/sys/vm/drop_caches
		m0=$(kmem_bytes)
		t0=$(now_ms)
		ndctl enable-namespace "$2" >/dev/null 2>&1 || { echo "# scale: $1 cannot enable $2"; return 1; }
		t=$(($(now_ms) - t0))
		sync; echo 3 >/proc/sys/vm/drop_caches
		m=$((($(kmem_bytes) - m0) / 1024))
		[ -z "$best" ] || [ "$t" -lt "$best" ] && best=$t
		[ -z "$mem" ] || [ "$m" -lt "$mem" ] && mem=$m
		r=$((r + 1))
	done
	echo "# scale $SIZE $ARENAS $1 ${CREATE_MS:-} $best $mem"
}
# rs_with FULL_CHECK: btt_rs loaded with that full_check (nd_pmem reloaded).
rs_with() {
	rmmod nd_pmem || return 1
	nd_unload_btt || return 1
	insmod "$BTT_RS_KO" full_check="$1" || return 1
	insmod $MODDIR/nd_pmem.ko || return 1
	nd_settle
}

nd_load c || exit 1
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null || exit 1
ndctl enable-region all >/dev/null 2>&1
SIZE=$(($(cat /sys/bus/nd/devices/region0/size) >> 20))
t0=$(now_ms)
json=$(ndctl create-namespace -r region0 -m sector -l 4096 2>&1) || { echo "$json"; exit 1; }
CREATE_MS=$(($(now_ms) - t0))
ns=$(echo "$json" | grep -o '"dev":"[^"]*"' | head -1 | cut -d'"' -f4)
mount -t debugfs none /sys/kernel/debug 2>/dev/null
ARENAS=$(ls -d /sys/kernel/debug/btt/*/arena* 2>/dev/null | wc -l)
measure c "$ns" || exit 1
CREATE_MS=-
ndctl disable-namespace "$ns" >/dev/null 2>&1
rs_with 1 || exit 1
measure rs "$ns" || exit 1
ndctl disable-namespace "$ns" >/dev/null 2>&1
rs_with 0 || exit 1
measure rs-nocheck "$ns" || exit 1
ndctl disable-namespace "$ns" >/dev/null 2>&1
nd_switch c
dmesg_clean
