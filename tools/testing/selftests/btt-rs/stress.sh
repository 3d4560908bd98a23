#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Many more writers than lanes: the load under which the C driver's lane sharing
# corrupted data (ndctl's btt-check.sh found it). With N CPUs the region has N
# lanes; JOBS fio jobs (default 8 per CPU) write random 4 KiB blocks with O_DIRECT,
# each in its own slice, with a CRC in every block; the data is verified during
# the run, again after disable/enable-namespace, and dmesg must stay clean.
# Usage: stress.sh DRIVER [JOBS] [SECONDS]
. /btt/tools/testing/guest/lib.sh
DRIVER=${1:?driver c|rs}
CPUS=$(grep -c ^processor /proc/cpuinfo)
JOBS=${2:-$((CPUS * 8))}
SECS=${3:-20}
SLICE=2 # MiB per job

ktap_header 8
ktap_check "load the nvdimm stack with the $DRIVER BTT driver" nd_load "$DRIVER"
diag "BTT driver: $(btt_driver_name); $CPUS CPUs, $JOBS fio jobs, ${SECS}s"
json=$(ndctl create-namespace -f -e namespace0.0 -m sector -l 4096 2>&1)
dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
if [ -b "/dev/$dev" ]; then ktap_ok "create-namespace -m sector ($dev)"; else
	echo "$json" | sed 's/^/# /'; ktap_not_ok "create-namespace -m sector"; fi
# A lane is cpu % nd_region->num_lanes (256 on pmem), so one lane per CPU is in
# use here, with either driver (btt_rs creates only those).
lanes=$CPUS

fio_job() { # extra fio arguments
	fio --name=stress --filename=/dev/$dev --direct=1 --ioengine=psync --bs=4k \
		--numjobs="$JOBS" --size=${SLICE}M --offset_increment=${SLICE}M \
		--group_reporting --verify=crc32c --verify_fatal=1 --output-format=terse "$@"
}
out=$(fio_job --rw=randwrite --time_based --runtime="$SECS" --verify_backlog=64 2>&1)
rc=$?
echo "$out" | grep -iE 'err|bad|fail' | grep -v 'state file' | head -5 | sed 's/^/# /'
if [ $rc = 0 ]; then ktap_ok "$JOBS writers on $lanes lanes: every block verifies during the run"; else
	echo "$out" | tail -5 | sed 's/^/# /'; ktap_not_ok "$JOBS writers on $lanes lanes: verification during the run"; fi
# Last pass writes every block once more, then everything is read back.
out=$(fio_job --rw=write 2>&1)
if [ $? = 0 ]; then ktap_ok "sequential rewrite of every slice verifies"; else
	echo "$out" | tail -5 | sed 's/^/# /'; ktap_not_ok "sequential rewrite of every slice verifies"; fi
ns=$(echo "$json" | grep -o '"dev":"[^"]*"' | head -1 | cut -d'"' -f4)
ndctl disable-namespace "$ns" >/dev/null 2>&1 && ndctl enable-namespace "$ns" >/dev/null 2>&1
out=$(fio_job --rw=write --verify_only 2>&1)
if [ $? = 0 ]; then ktap_ok "every block verifies after disable/enable-namespace"; else
	echo "$out" | tail -5 | sed 's/^/# /'; ktap_not_ok "every block verifies after disable/enable-namespace"; fi
ktap_check "ndctl check-namespace" sh -c "ndctl disable-namespace $ns && ndctl check-namespace $ns && ndctl enable-namespace $ns"
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_check "unload the nvdimm stack" nd_unload
ktap_finish
