#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest half of `make bench`'s virtio-pmem part, in ONE wall-clock boot (no
# icount: a virtio-pmem flush is a request that waits for the host's fsync of
# the backing file, work icount does not see). On the one namespace, in rounds:
# raw mode written with O_SYNC (one flush per write: without it a raw write on
# virtio-pmem is not durable), then sector mode with each btt_rs module given.
# The C nd_btt is left out: on virtio-pmem it flushes under its map spinlock,
# which sleeps (virtio_pmem.sh shows the splats), so it measures nothing.
#
# For every fio run it keeps fio's JSON and the number of flush requests the
# run sent to the host (vpmem_flushes in tools/testing/guest/lib.sh).
# Usage: vpmem.guest.sh SECTOR_SIZE RUNTIME REPS "JOBS" "LABEL=KO ..."
#   JOBS: rw:bs pairs; LABEL names a btt_rs build (e.g. rs=/out/btt_rs.ko).
. /btt/tools/testing/guest/lib.sh
SS=${1:-4096}
RUNTIME=${2:-3}
REPS=${3:-3}
JOBS=${4:-"randwrite:4k write:128k"}
KOS=$5
OUT=/out/vpmem
mkdir -p $OUT

# run_jobs MODE ROUND DEV [FIO_ARGS]: one run of every job.
run_jobs() {
	mode=$1 r=$2 dev=$3
	shift 3
	for job in $JOBS; do
		rw=${job%%:*} bs=${job##*:}
		f=$OUT/vpmem-ss$SS-$mode-$rw-$bs-r$r
		i0=$(vpmem_flushes)
		fio --name=bench --filename="$dev" --direct=1 --ioengine=psync --rw="$rw" --bs="$bs" \
			--numjobs=1 --size=48M --runtime="$RUNTIME" --time_based --randrepeat=0 \
			--output-format=json "$@" >/tmp/fio.json 2>/tmp/fio.err &&
			cp /tmp/fio.json "$f.json" || { echo "# fio failed: $mode $rw $bs r$r"; sed 's/^/#   /' /tmp/fio.err | head -3; }
		i1=$(vpmem_flushes)
		[ "$i0" != - ] && echo $((i1 - i0)) >"$f.flushes"
	done
}

load() { # KO
	insmod $MODDIR/libnvdimm.ko && insmod $MODDIR/dax.ko && nd_load_btt "$1" &&
		insmod $MODDIR/nd_pmem.ko && insmod $MODDIR/nd_virtio.ko && insmod $MODDIR/virtio_pmem.ko && nd_settle
}
blockdev_of() { grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4; }

first=${KOS%% *}
load "${first#*=}" || { echo "# cannot load the virtio-pmem stack"; exit 1; }
[ "$(vpmem_flushes)" = - ] && echo "# no virtio-pmem line in /proc/interrupts: flushes not counted"
ns=namespace0.0
loaded=$first
# Rounds, each measuring raw and then every module once: wall-clock rates on
# this host drift within a boot (whichever build ran second looked slower,
# either way round), so the drivers take turns instead of runs in a row.
r=1
while [ $r -le "$REPS" ]; do
	json=$(ndctl create-namespace -f -e $ns -m raw 2>&1) || { echo "$json"; exit 1; }
	run_jobs raw-osync $r "/dev/$(echo "$json" | blockdev_of)" --sync=1
	for ko in $KOS; do
		label=${ko%%=*} path=${ko#*=}
		if [ "$ko" != "$loaded" ]; then
			ndctl disable-namespace $ns >/dev/null 2>&1
			nd_switch "$path" || { echo "# cannot switch to $path"; exit 1; }
			loaded=$ko
		fi
		json=$(ndctl create-namespace -f -e $ns -m sector -l "$SS" 2>&1) || { echo "$json"; echo "# $label: create failed"; exit 1; }
		run_jobs "$label" $r "/dev/$(echo "$json" | blockdev_of)"
	done
	echo "# round $r done"
	r=$((r + 1))
done
dmesg_clean
