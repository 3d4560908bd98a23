#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Bad-image suite, one boot per driver: load the stack, and for every namespace
# print one line "OUTCOME uuid mode blockdev data" where data is "intact",
# "differs", "unreadable" or "-" (no sector device); then what the kernel said
# about BTTs, and the splat count. Usage: probe.guest.sh c|rs
. /btt/tools/testing/guest/lib.sh
nd_load "$1" || { echo "OUTCOME-LOAD-FAILED"; exit 1; }
for ns in $(ls /sys/bus/nd/devices | grep '^namespace'); do
	json=$(ndctl list -N -i -n "$ns" 2>/dev/null)
	get() { echo "$json" | grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4; }
	uuid=$(get uuid) mode=$(get mode) dev=$(get blockdev) data=-
	[ -n "$uuid" ] || continue
	[ -n "$dev" ] || dev=-
	case $dev in *s)
		if dd if=/dev/$dev of=/tmp/got bs=4096 count=64 iflag=direct 2>/dev/null &&
			[ "$(stat -c %s /tmp/got)" = 262144 ]; then
			if [ "$(file_sum /tmp/got)" = "$(file_sum /out/data-$uuid)" ]; then data=intact; else data=differs; fi
		else data=unreadable; fi ;;
	esac
	echo "OUTCOME $uuid $mode $dev $data"
done
dmesg | grep -iE 'btt|arena|info block|nd_pmem' | grep -v 'Command line' | sed 's/^/KMSG /'
echo "SPLATS $(dmesg | grep -cE "$DMESG_BAD")"
ndctl disable-region all >/dev/null 2>&1
