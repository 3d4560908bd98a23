#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# BTTs with internal and external sector sizes that differ (520 and 4160), made
# and filled on the host by the btt tool, damaged on purpose and repaired with
# `btt check --repair` (which ndctl check-namespace refuses to do for them):
# both drivers must attach them and read what the host wrote.
# Expects /out/repaired.sums: "DEVINDEX SECTORSIZE LBA SHA256" lines.
. /btt/tools/testing/guest/lib.sh
n=$(wc -l </out/repaired.sums)
ktap_header $((n * 2 + 6))
ktap_check "load the nvdimm stack with btt_rs" nd_load rs
# Both regions probe asynchronously: wait for the two BTT disks.
wait_disks() {
	i=0
	while [ "$(ls /sys/block | grep -c 's$')" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	devs=$(ls /sys/block | grep 's$' | sort)
	diag "BTT disks: $(echo $devs)"
}
# The disk with logical block size SS (512 for the 520 BTT, 4096 for 4160).
disk_for() { for d in $devs; do [ "$(cat /sys/block/$d/queue/logical_block_size)" = "$1" ] && echo $d; done; }
wait_disks
if [ "$(echo $devs | wc -w)" = 2 ]; then ktap_ok "btt_rs attaches both repaired BTTs"; else ktap_not_ok "btt_rs attaches both repaired BTTs"; fi
check() { # DRIVER
	while read -r i ss lba sum; do
		d=$(disk_for "$ss")
		got=$(read_sum /dev/$d "$ss" 1 "$lba")
		if [ "$got" = "$sum" ]; then ktap_ok "$1 reads sector $lba of $d as the host wrote it"; else
			ktap_not_ok "$1 reads sector $lba of $d as the host wrote it"; fi
	done </out/repaired.sums
}
check btt_rs
ktap_check "switch to the C driver" nd_switch c
wait_disks
if [ "$(echo $devs | wc -w)" = 2 ]; then ktap_ok "C attaches both repaired BTTs"; else ktap_not_ok "C attaches both repaired BTTs"; fi
check nd_btt
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_check "unload the nvdimm stack" nd_unload
ktap_finish
