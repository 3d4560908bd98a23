#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest fuzz suite, the guest's half (run.sh drives it from the host). One NVDIMM,
# label-less, whose backing file the host rewrites between images while region0
# is disabled (the file is mapped shared into the guest, so the host's writes are
# what the guest's next probe reads). Per image i:
#   wait for /out/fz/go-i (or /out/fz/end), enable region0 (nd_pmem probes the
#   namespace; libnvdimm finds the info block or not; btt_rs attaches or
#   refuses), classify, read every sector served (O_DIRECT, 4 KiB at a time,
#   errors skipped and counted; readsum), write 3 sectors if writable (read
#   back) and read every sector again (finalsum),
#   try one write if read-only, disable region0 (detach), and leave
#   /out/fz/done-i:
#     OUTCOME i outcome dev capacity ro readerrs readsum rowrite splats bttlines finalsum
#     W lba sectorsize sha256 ok|bad       (one per sector written)
#     KMSG line                            (btt lines and splats of its window)
#   outcome: raw (libnvdimm saw no BTT: no BTT device), refused (a BTT device,
#   no disk), ro (disk served read-only), rw (served writable).
# Usage: probe.guest.sh
# One compound command, parsed before it runs (the script is read from the
# host's tree, which may change during a long run).
{
. /btt/tools/testing/guest/lib.sh
ND=/sys/bus/nd/devices
F=/out/fz

insmod $MODDIR/libnvdimm.ko && insmod $MODDIR/dax.ko && nd_load_btt rs &&
	nd_load_nfit && nd_settle || { echo "FUZZ-LOAD-FAILED"; exit 1; }
i=0
while :; do
	ndctl disable-region all >/dev/null 2>&1
	nd_wait_probe
	[ -z "$(ls -d $ND/region*/driver 2>/dev/null)" ] && [ -e $ND/region0 ] && break
	i=$((i + 1))
	[ $i -lt 20 ] || { echo "FUZZ-LOAD-FAILED: region0 still enabled"; exit 1; }
	sleep 0.5
done
insmod $MODDIR/nd_pmem.ko || { echo "FUZZ-LOAD-FAILED"; exit 1; }
attr() { cat "$1" 2>/dev/null || echo -; }
blockdev_of() {
	_b=$(ls "$1/block" 2>/dev/null | head -1)
	echo "${_b:--}"
}
echo "FUZZ-READY"
: >$F/ready

i=0
while :; do
	i=$((i + 1))
	w=0
	while [ ! -f $F/go-$i ] && [ ! -f $F/end ]; do
		sleep 0.05
		w=$((w + 1))
		[ $w -lt 12000 ] || { echo "FUZZ-TIMEOUT waiting for image $i"; exit 1; }
	done
	[ -f $F/go-$i ] || break
	mark=$(dmesg | wc -l)
	ndctl enable-region region0 >/dev/null 2>&1
	nd_wait_probe
	nsd=$(ls -d $ND/region0/namespace*.0 2>/dev/null | head -1)
	holder=$(attr "$nsd/holder")
	[ -n "$holder" ] || holder=-
	dev=- outcome=raw
	if [ "$holder" != - ]; then
		outcome=refused
		if [ -e "$ND/$holder/driver" ]; then
			j=0
			while [ "$(blockdev_of "$ND/$holder")" = - ] && [ $j -lt 20 ]; do
				sleep 0.05
				j=$((j + 1))
			done
		fi
		dev=$(blockdev_of "$ND/$holder")
	fi
	cap=- ro=- readerrs=- readsum=- rowrite=- finalsum=- : >/tmp/w
	if [ "$dev" != - ]; then
		cap=$(attr /sys/block/$dev/size)
		ro=$(attr /sys/block/$dev/ro)
		ss=$(attr /sys/block/$dev/queue/logical_block_size)
		if [ "$ro" = 1 ]; then outcome=ro; else outcome=rw; fi
		# Every sector, 4 KiB at a time; a failed read is skipped (zeroes kept in
		# its place) and counted.
		readsum=$(dd if=/dev/$dev bs=4096 iflag=direct conv=noerror,sync 2>/tmp/dderr | sha256sum | cut -d' ' -f1)
		readerrs=$(grep -ci 'error' /tmp/dderr)
		if [ "$ro" = 1 ]; then
			if dd if=/dev/zero of=/dev/$dev bs=$ss count=1 oflag=direct conv=notrunc 2>/dev/null; then
				rowrite=accepted
			else
				rowrite=refused
			fi
		else
			n=$((cap * 512 / ss))
			for lba in 0 $((n / 2)) $((n - 1)); do
				write_pattern /dev/$dev "$ss" 1 $lba /tmp/one
				s=$(file_sum /tmp/one)
				if [ "$(read_sum /dev/$dev "$ss" 1 $lba)" = "$s" ]; then r=ok; else r=bad; fi
				echo "W $lba $ss $s $r" >>/tmp/w
			done
			# What the disk serves now, for the host to hold against the final image.
			finalsum=$(dd if=/dev/$dev bs=4096 iflag=direct conv=noerror,sync 2>/dev/null | sha256sum | cut -d' ' -f1)
		fi
	fi
	ndctl disable-region region0 >/dev/null 2>&1
	nd_wait_probe
	win=$(dmesg | tail -n +$((mark + 1)))
	splats=$(echo "$win" | grep -cE "$DMESG_BAD")
	rsl=$(echo "$win" | grep -cE ' btt[0-9]+\.[0-9]+: ')
	{
		echo "OUTCOME $i $outcome $dev $cap $ro $readerrs $readsum $rowrite $splats $rsl $finalsum"
		cat /tmp/w
		echo "$win" | grep -E " btt[0-9]+\.[0-9]+: |$DMESG_BAD" | head -40 | sed 's/^/KMSG /'
		[ "$splats" = 0 ] || echo "$win" | head -200 | sed 's/^/KMSG /'
	} >$F/done-$i.tmp
	mv $F/done-$i.tmp $F/done-$i
done
echo "FUZZ-IMAGES $((i - 1))"
echo "SPLATS $(dmesg | grep -cE "$DMESG_BAD")"
}
