#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Bad-image suite, one boot per driver: every region (one damaged image each) is
# enabled on its own, so what the kernel prints while it probes, attaches, serves
# the data check and detaches belongs to that namespace alone. For each one:
#   OUTCOME nsuuid mode holder driver blockdev capacity data splats btt_lines ro
# mode: the namespace's sysfs mode ("safe" = claimed by a BTT, "raw");
# holder: the BTT device claiming it ("-" if none); driver: what the BTT device
# (or, for raw, the namespace) is bound to; capacity in 512-byte sectors;
# data: the 64 sectors written at creation read back "intact",
# "wrong:N/64" (N 4 KiB blocks differ), "unreadable", "refused" (a BTT claims the
# namespace but no block device came up) or "raw" (no BTT: libnvdimm found none,
# the raw namespace is not compared); splats: splat lines in its window;
# btt_lines: lines in its window that name a BTT device ("btt0.1: ..."; the
# BTT driver was called: both drivers log through dev_err() and friends);
# ro: the block device's read-only flag (/sys/block/DEV/ro, "-" without one).
# Then "KMSG nsuuid LINE" for every kernel line of its window.
# Usage: probe.guest.sh c|rs NVDIMMS
. /btt/tools/testing/guest/lib.sh
ND=/sys/bus/nd/devices

# The stack without nd_pmem, so nothing probes yet; then every region off, nd_pmem
# in, and the regions enabled one at a time.
insmod $MODDIR/libnvdimm.ko && insmod $MODDIR/dax.ko && nd_load_btt "$1" &&
	nd_load_nfit && nd_settle || { echo "OUTCOME-LOAD-FAILED"; exit 1; }
# Every region must be off before nd_pmem comes in, or a region would attach
# outside its own window; regions register asynchronously: wait for all of them.
nregions=${2:?number of NVDIMMs}
i=0
while :; do
	ndctl disable-region all >/dev/null 2>&1
	nd_wait_probe
	on=$(ls -d $ND/region*/driver 2>/dev/null | wc -l)
	[ "$on" = 0 ] && [ "$(ls $ND | grep -c '^region')" -ge "$nregions" ] && break
	i=$((i + 1))
	[ $i -lt 20 ] || { echo "# $on regions still enabled after 20 tries"; echo "OUTCOME-LOAD-FAILED"; exit 1; }
	sleep 0.5
done
insmod $MODDIR/nd_pmem.ko || { echo "OUTCOME-LOAD-FAILED"; exit 1; }
attr() { cat "$1" 2>/dev/null || echo -; }
blockdev_of() { # sysfs device dir -> its block device, or -
	_b=$(ls "$1/block" 2>/dev/null | head -1)
	echo "${_b:--}"
}

for r in $(ls $ND | grep '^region' | sort -V); do
	mark=$(dmesg | wc -l)
	ndctl enable-region "$r" >/dev/null 2>&1
	nd_wait_probe
	for nsd in $ND/$r/namespace*; do
		[ -d "$nsd" ] || continue
		ns=$(basename "$nsd")
		uuid=$(attr "$nsd/uuid")
		size=$(attr "$nsd/size")
		{ [ "$uuid" = - ] || [ -z "$uuid" ] || [ "$size" = 0 ]; } && continue
		mode=$(attr "$nsd/mode")
		holder=$(attr "$nsd/holder")
		[ -n "$holder" ] || holder=-
		if [ "$holder" != - ]; then
			# nd_wait_probe covers the BTT device's probe; a block device that has
			# not shown up yet after it gets a few more seconds all the same.
			j=0
			while [ "$(blockdev_of "$ND/$holder")" = - ] && [ $j -lt 30 ]; do
				sleep 0.1
				j=$((j + 1))
			done
			dev=$(blockdev_of "$ND/$holder")
			drv=$(basename "$(readlink "$ND/$holder/driver" 2>/dev/null)" 2>/dev/null)
		else
			dev=$(blockdev_of "$nsd")
			drv=$(basename "$(readlink "$nsd/driver" 2>/dev/null)" 2>/dev/null)
		fi
		[ -n "$drv" ] || drv=-
		cap=- ro=-
		[ "$dev" != - ] && cap=$(attr /sys/block/$dev/size) && ro=$(attr /sys/block/$dev/ro)
		data=-
		want=/out/data-$uuid
		if [ "$holder" = - ]; then
			data=raw
		elif [ "$dev" = - ]; then
			data=refused
		elif [ ! -f "$want" ]; then
			data=no-reference
		elif dd if=/dev/$dev of=/tmp/got bs=4096 count=64 iflag=direct 2>/dev/null &&
			[ "$(stat -c %s /tmp/got)" = 262144 ]; then
			if [ "$(file_sum /tmp/got)" = "$(file_sum "$want")" ]; then
				data=intact
			else
				bad=0 i=0
				while [ $i -lt 64 ]; do
					a=$(dd if=/tmp/got bs=4096 skip=$i count=1 2>/dev/null | sha256sum)
					b=$(dd if="$want" bs=4096 skip=$i count=1 2>/dev/null | sha256sum)
					[ "$a" = "$b" ] || bad=$((bad + 1))
					i=$((i + 1))
				done
				data=wrong:$bad/64
			fi
		else
			data=unreadable
		fi
		# Detach too: its messages (and splats) belong to this window as well.
		ndctl disable-region "$r" >/dev/null 2>&1
		nd_wait_probe
		win=$(dmesg | tail -n +$((mark + 1)))
		splats=$(echo "$win" | grep -cE "$DMESG_BAD")
		rsl=$(echo "$win" | grep -cE ' btt[0-9]+\.[0-9]+: ')
		echo "OUTCOME $uuid $mode $holder $drv $dev $cap $data $splats $rsl $ro"
		echo "$win" | grep -v '^$' | sed "s/^/KMSG $uuid /"
	done
	ndctl disable-region "$r" >/dev/null 2>&1
done
echo "SPLATS $(dmesg | grep -cE "$DMESG_BAD")"
