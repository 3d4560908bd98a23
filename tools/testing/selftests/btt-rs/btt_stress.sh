#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Rounds in the spirit of ndctl's btt-stress.sh: in each round many O_DIRECT
# writers (far more than the CPUs, hence lanes), as many readers and CPU hogs run
# at once on a BTT; then every block is verified against the CRC fio wrote into
# it, after disable/enable-namespace. The sector size alternates 512 / 4096 (a
# new namespace each time it changes). Fails on any mismatch and on dmesg splats.
# Usage: btt_stress.sh DRIVER [ROUNDS] [SECONDS_PER_ROUND]
# Prints "rounds R bytes-verified B mismatches M" at the end.
. /btt/tools/testing/guest/lib.sh
DRIVER=${1:?driver c|rs}
ROUNDS=${2:-4}
SECS=${3:-5}
CPUS=$(grep -c ^processor /proc/cpuinfo)
JOBS=$((CPUS * 6)) SLICE=1 # MiB per writer

# 1 load + ROUNDS + 1 summary + dmesg + unload
ktap_header $((ROUNDS + 4))
ktap_check "load the nvdimm stack with the $DRIVER BTT driver" nd_load "$DRIVER"
diag "BTT driver: $(btt_driver_name); $CPUS CPUs (lanes), $JOBS writers, $JOBS readers, $CPUS hogs, $ROUNDS rounds of ${SECS}s"

dev= ns= cur=
# Reconfigures the label-less namespace in place: after destroy-namespace
# ndctl refuses to make a sector namespace of it again ("--size= must be >=
# 16MiB").
mkns() { # sector size
	json=$(ndctl create-namespace -f -e namespace0.0 -m sector -l "$1" 2>&1) || { echo "$json"; return 1; }
	dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
	ns=$(echo "$json" | grep -o '"dev":"[^"]*"' | head -1 | cut -d'"' -f4)
	[ -b "/dev/$dev" ]
}
fio_job() {
	fio --filename=/dev/$dev --direct=1 --ioengine=psync --bs=4k --size=${SLICE}M \
		--offset_increment=${SLICE}M --verify=crc32c --verify_fatal=1 --output-format=terse "$@"
}
bytes=0 bad=0 r=1
while [ $r -le $ROUNDS ]; do
	ss=512
	[ $((r % 2)) = 0 ] && ss=4096
	why=
	if [ "$ss" != "$cur" ]; then mkns "$ss" >/tmp/mkns.log 2>&1 || why="create-namespace -l $ss"; cur=$ss; fi
	if [ -z "$why" ]; then
		# Hogs keep every CPU busy, so writers and readers are preempted in lanes.
		hogs=
		for i in $(seq $CPUS); do (while :; do :; done) & hogs="$hogs $!"; done
		fio_job --name=w --numjobs=$JOBS --rw=randwrite --time_based --runtime=$SECS \
			--verify_backlog=32 >/tmp/w.log 2>&1 &
		wpid=$!
		fio --name=r --filename=/dev/$dev --direct=1 --ioengine=psync --bs=$ss --rw=randread \
			--numjobs=$JOBS --time_based --runtime=$SECS --output-format=terse >/tmp/r.log 2>&1 || why="readers"
		wait $wpid || why="$why writers"
		kill $hogs 2>/dev/null; wait $hogs 2>/dev/null
		if [ -z "$why" ]; then
			fio_job --name=w --numjobs=$JOBS --rw=write >/tmp/w.log 2>&1 || why="rewrite"
		fi
		if [ -z "$why" ]; then
			ndctl disable-namespace "$ns" >/dev/null 2>&1 && ndctl enable-namespace "$ns" >/dev/null 2>&1 ||
				why="disable/enable-namespace"
		fi
		if [ -z "$why" ]; then
			fio_job --name=w --numjobs=$JOBS --rw=write --verify_only >/tmp/w.log 2>&1 || why="verify after enable"
		fi
	fi
	if [ -z "$why" ]; then
		bytes=$((bytes + JOBS * SLICE * 1048576))
		ktap_ok "round $r (sector $ss): $((JOBS * SLICE)) MiB written by $JOBS writers verify"
	else
		bad=$((bad + 1))
		cat /tmp/mkns.log /tmp/w.log /tmp/r.log 2>/dev/null | grep -iE 'err|bad|fail|crc' | head -8 | sed 's/^/# /'
		ktap_not_ok "round $r (sector $ss): $why"
	fi
	r=$((r + 1))
done
diag "rounds $ROUNDS bytes-verified $bytes mismatches $bad"
[ $bad = 0 ] && ktap_ok "rounds $ROUNDS, $bytes bytes verified, 0 failed rounds" ||
	ktap_not_ok "rounds $ROUNDS, $bytes bytes verified, $bad failed rounds"
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic/KASAN" dmesg_clean
ndctl destroy-namespace -f all >/dev/null 2>&1
ktap_check "unload the nvdimm stack" nd_unload
ktap_finish
