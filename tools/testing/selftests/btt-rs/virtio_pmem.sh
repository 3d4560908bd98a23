#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A BTT on virtio-pmem, as a new user would set it up: the namespace reconfigured
# to sector mode, then one 4 KiB O_DIRECT write and a read back, then 64 more
# and eight of 128 KiB, with the flush requests they send to the host counted. virtio-pmem's
# flush takes a mutex and waits for the host, so a driver that flushes under a
# spinlock splats here ("sleeping function called from invalid context",
# "Invalid wait context"); the C nd_btt of Linux 7.3 does.
# Usage: virtio_pmem.sh rs|c|c-write   (guest booted with scripts/qemu-run.sh --virtio-pmem)
#   rs: every test point must pass, the splat checks included.
#   c:  the same set-up with the C driver, then a read of the new namespace
#       (zeroes, no splat). Its write is left out: the C nd_btt of Linux 7.3
#       flushes under its map spinlock, which sleeps here ("scheduling while
#       atomic"), and what follows damages the kernel (the writer killed by a
#       segfault, then cgroup, refcount and free_task warnings; once, in CI
#       on 2026-12-07, a guest hung until the host's 900 s timeout).
#   c-write: the C driver's write, by hand and never in make test: the same
#       set-up, one 4 KiB O_DIRECT write and a read back, given 60 s, and what
#       came of them as diagnostics. The guest may still hang in init's sync
#       at power-off if the dying writer holds the disk.
# The image must be fresh (qemu-run.sh --fresh): mode c expects zeroes.
. /btt/tools/testing/guest/lib.sh
MODE=${1:?usage: virtio_pmem.sh rs|c|c-write}
DRIVER=${MODE%-write}

load() {
	insmod $MODDIR/libnvdimm.ko && insmod $MODDIR/dax.ko && nd_load_btt "$DRIVER" &&
		insmod $MODDIR/nd_pmem.ko && insmod $MODDIR/nd_virtio.ko && insmod $MODDIR/virtio_pmem.ko && nd_settle
}
splats() { dmesg | grep -cE 'sleeping function called from invalid context|Invalid wait context|scheduling while atomic'; }

case $MODE in
rs) ktap_header 7 ;;
c) ktap_header 4 ;;
c-write) ktap_header 2 ;;
*) echo "usage: virtio_pmem.sh rs|c|c-write" >&2; exit 2 ;;
esac
ktap_check "load libnvdimm, $DRIVER BTT, nd_pmem, virtio_pmem" load
json=$(ndctl create-namespace -f -e namespace0.0 -m sector 2>&1)
dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
if [ -b "/dev/$dev" ]; then ktap_ok "create-namespace -f -e namespace0.0 -m sector on virtio-pmem ($dev)"; else
	echo "$json" | sed 's/^/# /'; ktap_not_ok "create-namespace -m sector on virtio-pmem"; fi
if [ "$MODE" = c ]; then
	# Reads flush nothing: the C driver's read path is safe here.
	zeroes=$(head -c 1048576 /dev/zero | sha256sum | cut -d' ' -f1)
	[ "$(read_sum /dev/$dev 4096 256 0)" = "$zeroes" ]
	ktap_result $? "the new namespace's first MiB reads back as zeroes (O_DIRECT)"
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	diag "the C driver's write is not run: it sleeps under its map spinlock here and damages the kernel (virtio_pmem.sh c-write shows it)"
	ktap_finish
	exit
fi
one_write() { write_pattern /dev/$dev 4096 1 0 /tmp/one && [ "$(read_sum /dev/$dev 4096 1 0)" = "$(file_sum /tmp/one)" ]; }
if [ "$MODE" = c-write ]; then
	# The writer can die in the kernel still holding its lane's mutex, and
	# then the read back waits for that lane for ever. So the write and read
	# back run in the background, with their output kept off init's pipe
	# (which would otherwise stay open), and are given 60 s.
	bounded 60 one_write </dev/null >/dev/null 2>&1
	case $? in
	0) data="read back intact" ;;
	124)
		data="had not returned after 60 s"
		# What the stuck dd waits in (/proc/PID/stack lines: "[<0>] func+off/len").
		for pid in $(pidof dd); do
			diag "pid $pid ($(cat /proc/$pid/comm 2>/dev/null)), state $(cut -d' ' -f3 /proc/$pid/stat 2>/dev/null):" \
				$(sed 's/^\[<[^>]*>\] //; s/[+ ].*//; s/$/;/' /proc/$pid/stack 2>/dev/null | head -8)
		done
		;;
	*) data="did not read back" ;;
	esac
	diag "C nd_btt on virtio-pmem (known upstream behaviour): one 4 KiB O_DIRECT write $data;" \
		"$(splats) sleep-in-atomic / invalid-wait-context splats; $(dmesg | grep -c 'segfault') processes killed by a segfault;" \
		"$(dmesg | grep -cE 'Oops|WARNING:|kernel BUG') oopses or warnings"
	ktap_finish
	exit
fi
one_write
ktap_result $? "4 KiB O_DIRECT write and read back"
# Three flushes (host round trips) per write batch: the data and the flog
# entries' first halves share one, then the second halves, then the map
# entries (Documentation/btt-rs.rst, "Persistence model", "Write batches"). A
# batch is the consecutive sectors of a bio in one group of 32 map entries,
# so a 4 KiB write is one batch whatever the sector size. More means a write
# paid a flush per media write or per sector again; fewer, that a durability
# point went missing. The count cannot show that each flush sits where it
# must: the host's reorder.rs checks that.
ss=$(blockdev --getss /dev/$dev 2>/dev/null)
[ -n "$ss" ] || ss=0
f0=$(vpmem_flushes)
write_pattern /dev/$dev 4096 64 8 /tmp/many && [ "$(read_sum /dev/$dev 4096 64 8)" = "$(file_sum /tmp/many)" ]
data=$?
f1=$(vpmem_flushes)
want=$((3 * 64))
if [ "$f0" = - ]; then
	ktap_not_ok "flushes per write: no virtio-pmem interrupt line in /proc/interrupts"
elif [ $data = 0 ] && [ $((f1 - f0)) = $want ]; then
	ktap_ok "64 4 KiB writes read back; $((f1 - f0)) flush requests, 3 per write ($ss-byte sectors)"
else
	ktap_not_ok "64 4 KiB writes (read back: $([ $data = 0 ] && echo yes || echo no)): $((f1 - f0)) flush requests, want $want (3 per write, $ss-byte sectors)"
fi
# Eight 128 KiB writes aligned to 128 KiB, one bio each: 32 4096-byte sectors
# are one batch (3 flushes), 256 512-byte sectors eight (24).
f0=$(vpmem_flushes)
write_pattern /dev/$dev 131072 8 8 /tmp/big && [ "$(read_sum /dev/$dev 131072 8 8)" = "$(file_sum /tmp/big)" ]
data=$?
f1=$(vpmem_flushes)
per_bio=$([ "$ss" -gt 0 ] && echo $((3 * ((131072 / ss + 31) / 32))) || echo 0)
if [ "$f0" = - ]; then
	ktap_not_ok "flushes per 128 KiB write: no virtio-pmem interrupt line in /proc/interrupts"
elif [ $data = 0 ] && [ $((f1 - f0)) = $((8 * per_bio)) ]; then
	ktap_ok "8 128 KiB writes read back; $((f1 - f0)) flush requests, $per_bio per write ($ss-byte sectors)"
else
	ktap_not_ok "8 128 KiB writes (read back: $([ $data = 0 ] && echo yes || echo no)): $((f1 - f0)) flush requests, want $((8 * per_bio)) ($per_bio per write, $ss-byte sectors)"
fi
n=$(splats)
if [ "$n" = 0 ]; then ktap_ok "no sleep-in-atomic or invalid-wait-context splat"; else
	ktap_not_ok "no sleep-in-atomic or invalid-wait-context splat ($n seen)"; fi
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_finish
