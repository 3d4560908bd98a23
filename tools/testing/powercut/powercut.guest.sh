#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest half of the power-cut test (run.sh drives it from the host). KTAP out.
#
# Usage: powercut.guest.sh DRIVER setup SECTOR_SIZE SIZE
#        powercut.guest.sh DRIVER run SEED THREADS BATCH
#        powercut.guest.sh DRIVER verify
#   DRIVER  c (the kernel's nd_btt.ko) or rs (btt_rs.ko)
#   setup   on a fresh NVDIMM: v1.1 labels and one sector-mode namespace of SIZE
#           (ndctl's -s) with SECTOR_SIZE-byte sectors; its name, sector count
#           and place in the NVDIMM go to /out/powercut.state, the write log
#           /out/pc.log is emptied; the new namespace must read all zero
#   run     after a cut: attach, verify every sector against /out/pc.log (and
#           record the fate of the writes that were in flight), ndctl
#           check-namespace, dmesg; then "POWERCUT-WRITING" and pcwriter writes
#           until the host kills QEMU (if it ever stops, that is a failure)
#   verify  the last boot: attach, verify, check-namespace, dmesg, unload, kmemleak
#
# run.sh runs a copy of this script, pcwriter and btt_rs.ko from /out, so that a
# long series tests one build whatever happens to the repository meanwhile.
here=$(dirname "$0")
[ -f "$here/btt_rs.ko" ] && export BTT_RS_KO=$here/btt_rs.ko
. /btt/tools/testing/guest/lib.sh

DRIVER=${1:?driver c|rs}
PHASE=${2:?phase setup|run|verify}
STATE=/out/powercut.state
LOG=/out/pc.log
PCW=$here/pcwriter
[ -x "$PCW" ] || PCW=/btt/build/powercut/pcwriter

ns_json_field() { # FIELD: from ndctl JSON on stdin
	grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4
}
# The block device of namespace $NS, once it exists.
find_dev() {
	i=0
	while [ $i -lt 100 ]; do
		_dev=$(ndctl list -n "$NS" 2>/dev/null | ns_json_field blockdev)
		if [ -n "$_dev" ] && [ -b "/dev/$_dev" ]; then
			echo "$_dev"
			return 0
		fi
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

attach() {
	if ! nd_load "$DRIVER"; then
		ktap_not_ok "load the nvdimm stack with the $DRIVER BTT driver"
		return 1
	fi
	if ! DEV=$(find_dev); then
		ndctl list -N 2>&1 | sed 's/^/# /'
		ktap_not_ok "$(btt_driver_name) attaches $NS"
		return 1
	fi
	ktap_ok "$(btt_driver_name) attaches $NS as /dev/$DEV"
}

# verify [--record]: every sector against the log.
verify() {
	t0=$(date +%s)
	out=$($PCW verify "/dev/$DEV" "$NSECT" $LOG "$@" 2>&1)
	rc=$?
	echo "$out" | grep -v '^PCVERIFY' | sed 's/^\([^#]\)/# \1/'
	echo "$out" | grep '^PCVERIFY' # the host sums these
	sum=$(echo "$out" | grep '^PCVERIFY' | sed 's/^PCVERIFY //')
	if [ $rc = 0 ] && [ -n "$sum" ]; then
		ktap_ok "every sector whole and no acknowledged write lost ($NSECT sectors, $(($(date +%s) - t0)) s)"
	else
		ktap_not_ok "every sector whole and no acknowledged write lost (pcwriter exit $rc: $sum)"
		return 1
	fi
}

check_namespace() {
	if ndctl disable-namespace "$NS" >/dev/null 2>&1 && out=$(ndctl check-namespace "$NS" 2>&1); then
		ktap_ok "ndctl check-namespace $NS"
	else
		echo "$out" | sed 's/^/# /' | tail -10
		ktap_not_ok "ndctl check-namespace $NS"
	fi
	ndctl enable-namespace "$NS" >/dev/null 2>&1
	DEV=$(find_dev) || { diag "$NS did not come back after enable-namespace"; return 1; }
}

case $PHASE in
setup)
	SS=${3:?sector size} SIZE=${4:?namespace size}
	ktap_header 7
	ktap_check "load the nvdimm stack with the $DRIVER BTT driver" nd_load "$DRIVER"
	diag "BTT driver: $(btt_driver_name)"
	# Labels first: a label-less BTT is not found again after a reboot.
	ndctl disable-region all >/dev/null 2>&1
	ktap_check "ndctl init-labels" ndctl init-labels -f all
	ktap_check "ndctl enable-region" ndctl enable-region all
	json=$(ndctl create-namespace -r region0 -m sector -l "$SS" -s "$SIZE" 2>&1)
	NS=$(echo "$json" | ns_json_field dev)
	DEV=$(echo "$json" | ns_json_field blockdev)
	if [ -n "$DEV" ] && [ -b "/dev/$DEV" ]; then
		ktap_ok "create-namespace -m sector -l $SS -s $SIZE ($NS, $DEV)"
	else
		echo "$json" | sed 's/^/# /'
		ktap_not_ok "create-namespace -m sector -l $SS -s $SIZE"
		exit 1
	fi
	lbs=$(cat /sys/block/$DEV/queue/logical_block_size)
	NSECT=$(($(cat /sys/block/$DEV/size) * 512 / lbs))
	if [ "$lbs" = "$SS" ]; then ktap_ok "logical block size $lbs"; else
		ktap_not_ok "logical block size (got '$lbs', want $SS)"; fi
	# Where the namespace is in the NVDIMM (= in the backing file), for the host's btt check.
	NS_OFF=$(($(cat /sys/bus/nd/devices/$NS/resource) - $(cat /sys/bus/nd/devices/region0/resource)))
	NS_SIZE=$(cat /sys/bus/nd/devices/$NS/size)
	echo "NS=$NS NSECT=$NSECT SS=$SS NS_OFF=$NS_OFF NS_SIZE=$NS_SIZE" >$STATE
	: >$LOG
	verify
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	;;
run)
	SEED=${3:?seed} THREADS=${4:-4} BATCH=${5:-16}
	. $STATE
	ktap_header 4
	attach || exit 1
	# A failure stops here: the image stays as the cut left it, for a post-mortem.
	verify --record || exit 1
	check_namespace || exit 1
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	echo "POWERCUT-WRITING /dev/$DEV"
	# Until the host pulls the plug; the log is on the host (9p), so it stays.
	$PCW write "/dev/$DEV" "$NSECT" "$SEED" $LOG "$THREADS" "$BATCH" &
	wait $!
	rc=$?
	echo "not ok 5 pcwriter stopped on its own (exit $rc)"
	dmesg | tail -20 | sed 's/^/# dmesg: /'
	exit 1
	;;
verify)
	. $STATE
	ktap_header 6
	attach || exit 1
	verify --record
	check_namespace
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	ktap_check "unload the nvdimm stack" nd_unload
	ktap_check "kmemleak reports nothing" kmemleak_clean
	;;
*) echo "unknown phase $PHASE"; exit 2 ;;
esac
ktap_finish
