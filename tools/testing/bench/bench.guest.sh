#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest half of `make bench`: in ONE boot, on the same namespace, in turn: raw
# mode, sector mode with the C nd_btt, sector mode with btt_rs (rs) and with
# btt_rs writing sector by sector (rs1: write_batch=1); fio with O_DIRECT
# for every job; one JSON file per run in /out/bench/; then, unless ZEROING=0,
# the time to discard, zero and mkfs.ext4 the whole disk. Only ratios between runs
# of this one boot mean anything (TCG).
# Usage: bench.guest.sh "SECTOR_SIZES" "DRIVERS" RUNTIME REPS ["JOBS" ["NUMJOBS"]]
#   JOBS: rw:bs pairs (default "randread:4k randwrite:4k read:128k write:128k")
. /btt/tools/testing/guest/lib.sh
SIZES=${1:-"512 4096"}
DRIVERS=${2:-"c rs"}
RUNTIME=${3:-3}
REPS=${4:-3}
CPUS=$(nproc)
OUT=/out/bench
mkdir -p $OUT

JOBS=${5:-"randread:4k randwrite:4k read:128k write:128k"}
NUMJOBS=${6:-"1 4"}

run_jobs() { # MODE SS DEV
	for job in $JOBS; do
		rw=${job%%:*} bs=${job##*:}
		for nj in $NUMJOBS; do
			r=1
			while [ $r -le "$REPS" ]; do
				f=$OUT/cpus$CPUS-ss$2-$1-$rw-$bs-nj$nj-r$r.json
				fio --name=bench --filename="$3" --direct=1 --ioengine=psync --rw="$rw" --bs="$bs" \
					--numjobs="$nj" --size=48M --runtime="$RUNTIME" --time_based --group_reporting \
					--randrepeat=0 --output-format=json >/tmp/fio.json 2>/tmp/fio.err &&
					cp /tmp/fio.json "$f" || { echo "# fio failed: $1 ss$2 $rw $bs nj$nj r$r"; sed 's/^/#   /' /tmp/fio.err | head -3; }
				r=$((r + 1))
			done
		done
	done
	echo "# done: $1 ss$2 ($3)"
}

BLKDISCARD=/usr/bin/blkdiscard MKFS=/usr/bin/mkfs.ext4
now_ms() { awk '{printf "%d", $1 * 1000}' /proc/uptime; }
# zeroing MODE SS DEV: the time of blkdiscard (discard), blkdiscard -z
# (write-zeroes, or zero pages written by the block layer where the disk has
# no write-zeroes) and mkfs.ext4 (which discards first where it can) of the
# whole disk, best of REPS (guest ms; /proc/uptime: 10 ms steps). A refused
# discard is "-". Prints "# zeroing CPUS SS MODE MIB DISCARD_MS ZEROOUT_MS MKFS_MS".
zeroing() {
	mib=$(($(blockdev --getsize64 "$3") / 1048576))
	best_d=- best_z= best_m=
	r=0
	while [ $r -lt "$REPS" ]; do
		t0=$(now_ms)
		if $BLKDISCARD -f "$3" 2>/dev/null; then
			t=$(($(now_ms) - t0))
			{ [ "$best_d" = - ] || [ "$t" -lt "$best_d" ]; } && best_d=$t
		fi
		t0=$(now_ms)
		$BLKDISCARD -f -z "$3" || { echo "# zeroing: blkdiscard -z failed on $1 ss$2"; return 1; }
		t=$(($(now_ms) - t0))
		{ [ -z "$best_z" ] || [ "$t" -lt "$best_z" ]; } && best_z=$t
		t0=$(now_ms)
		$MKFS -q -F "$3" >/tmp/mkfs.err 2>&1 || { echo "# zeroing: mkfs.ext4 failed on $1 ss$2"; sed 's/^/#   /' /tmp/mkfs.err | head -3; return 1; }
		t=$(($(now_ms) - t0))
		{ [ -z "$best_m" ] || [ "$t" -lt "$best_m" ]; } && best_m=$t
		r=$((r + 1))
	done
	echo "# zeroing $CPUS $2 $1 $mib $best_d $best_z $best_m"
}

nd_load c || exit 1
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null || exit 1
ndctl enable-region all >/dev/null 2>&1
ndctl create-namespace -r region0 -m raw -s 128M >/dev/null || exit 1
ns=namespace0.0

loaded=c
for ss in $SIZES; do
	json=$(ndctl create-namespace -f -e $ns -m raw 2>&1) || { echo "$json"; exit 1; }
	dev=/dev/$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
	run_jobs raw "$ss" "$dev"
	[ "${ZEROING:-1}" = 1 ] && zeroing raw "$ss" "$dev"
	for drv in $DRIVERS; do
		# rs and rs1 are one module with different parameters: switch on the
		# name, not on the module loaded.
		if [ "$drv" != "$loaded" ]; then
			ndctl disable-namespace $ns >/dev/null 2>&1
			nd_switch "$drv" || { echo "# cannot switch to the $drv BTT driver: skipped"; continue; }
			loaded=$drv
		fi
		json=$(ndctl create-namespace -f -e $ns -m sector -l "$ss" 2>&1) || { echo "$json"; echo "# $drv: create failed"; continue; }
		dev=/dev/$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
		run_jobs "$drv" "$ss" "$dev"
		[ "${ZEROING:-1}" = 1 ] && zeroing "$drv" "$ss" "$dev"
	done
	# Back to the C driver for the next size's raw run and sector setup.
	if [ "$loaded" != c ]; then
		ndctl disable-namespace $ns >/dev/null 2>&1
		nd_switch c && loaded=c
	fi
done
dmesg_clean
