#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Sector-mode namespaces end to end, with KTAP output. Runs in the test guest.
#
# Usage: sector_mode.sh DRIVER PHASE
#   DRIVER  c (the kernel's nd_btt.ko) or rs (btt_rs.ko)
#   PHASE   create  on a fresh NVDIMM: a label-less namespace (BTT 2.0 at offset 0),
#                   then v1.1 labels (ndctl's default) and two namespaces (BTT 1.1
#                   at 4 KiB, sector sizes 512 and 4096); data written with
#                   O_DIRECT is read back by checksum,
#                   across disable/enable and check-namespace; state kept in /out
#           verify  after a reboot on the same NVDIMM: the data is still there,
#                   then the namespaces are destroyed
. /btt/tools/testing/guest/lib.sh

DRIVER=${1:?driver c|rs}
PHASE=${2:?phase create|verify}
STATE=/out/sector_mode.state
CHUNK=4096

ns_json_field() { # FIELD: from ndctl JSON on stdin
	grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4
}

# exercise NS DEV SECTOR TAG: write, read back, disable/enable, check-namespace.
exercise() {
	ns=$1 dev=/dev/$2 ss=$3 tag=$4
	lbs=$(cat /sys/block/$2/queue/logical_block_size 2>/dev/null)
	if [ "$lbs" = "$ss" ]; then ktap_ok "$tag logical block size $lbs"; else
		ktap_not_ok "$tag logical block size (got '$lbs', want $ss)"; fi

	count=512 seek=256 # 2 MiB at 1 MiB
	if write_pattern "$dev" $CHUNK $count $seek /tmp/$tag.data &&
		[ "$(read_sum "$dev" $CHUNK $count $seek)" = "$(file_sum /tmp/$tag.data)" ]; then
		ktap_ok "$tag O_DIRECT write and read back"
	else ktap_not_ok "$tag O_DIRECT write and read back"; fi

	# The last sector and the first, at the device's own sector size.
	nsec=$(($(cat /sys/block/$2/size) * 512 / ss))
	if write_pattern "$dev" "$ss" 1 $((nsec - 1)) /tmp/$tag.last && write_pattern "$dev" "$ss" 1 0 /tmp/$tag.first &&
		[ "$(read_sum "$dev" "$ss" 1 $((nsec - 1)))" = "$(file_sum /tmp/$tag.last)" ] &&
		[ "$(read_sum "$dev" "$ss" 1 0)" = "$(file_sum /tmp/$tag.first)" ]; then
		ktap_ok "$tag first and last sector ($nsec sectors)"
	else ktap_not_ok "$tag first and last sector ($nsec sectors)"; fi

	if ndctl disable-namespace "$ns" >/dev/null 2>&1 && ndctl enable-namespace "$ns" >/dev/null 2>&1 &&
		[ -b "$dev" ] && [ "$(read_sum "$dev" $CHUNK $count $seek)" = "$(file_sum /tmp/$tag.data)" ]; then
		ktap_ok "$tag data survives disable/enable-namespace"
	else ktap_not_ok "$tag data survives disable/enable-namespace"; fi

	if ndctl disable-namespace "$ns" >/dev/null 2>&1 && out=$(ndctl check-namespace "$ns" 2>&1); then
		ktap_ok "$tag ndctl check-namespace"
	else
		echo "$out" | sed 's/^/# /' | tail -5
		ktap_not_ok "$tag ndctl check-namespace"
	fi
	ndctl enable-namespace "$ns" >/dev/null 2>&1
	echo "$tag $2 $CHUNK $count $seek $(file_sum /tmp/$tag.data)" >>$STATE
}

# A BTT's disk is named as C names it: pmem<region>[.<ns>]s, one "s".
btt_disk_name_ok() {
	echo "$1" | grep -Eq '^pmem[0-9]+(\.[0-9]+)?s$'
}

create_phase() {
	ktap_header 25
	ktap_check "load the nvdimm stack with the $DRIVER BTT driver" nd_load "$DRIVER"
	diag "BTT driver: $(btt_driver_name)"
	: >$STATE

	# Label-less: the region is one io namespace; the BTT is version 2.0 at offset 0.
	json=$(ndctl create-namespace -f -e namespace0.0 -m sector -l 4096 2>&1)
	dev=$(echo "$json" | ns_json_field blockdev)
	if [ -n "$dev" ] && [ -b /dev/$dev ] && btt_disk_name_ok "$dev"; then ktap_ok "label-less create-namespace -m sector -l 4096 ($dev)"; else
		echo "$json" | sed 's/^/# /'; ktap_not_ok "label-less create-namespace -m sector -l 4096"; fi
	exercise namespace0.0 "$dev" 4096 nolabel
	: >$STATE # a label-less BTT is not found again after a reboot: not kept
	ktap_check "label-less destroy-namespace" ndctl destroy-namespace -f namespace0.0

	# With v1.1 labels (ndctl's default): BTT version 1.1 at 4 KiB, two namespaces.
	ndctl disable-region all >/dev/null 2>&1
	ktap_check "ndctl init-labels" ndctl init-labels -f all
	ktap_check "ndctl enable-region" ndctl enable-region all
	for ss in 512 4096; do
		json=$(ndctl create-namespace -r region0 -m sector -l $ss -s 96M 2>&1)
		dev=$(echo "$json" | ns_json_field blockdev)
		ns=$(echo "$json" | ns_json_field dev)
		if [ -n "$dev" ] && [ -b /dev/$dev ] && btt_disk_name_ok "$dev"; then ktap_ok "labelled create-namespace -m sector -l $ss ($ns, $dev)"; else
			echo "$json" | sed 's/^/# /'; ktap_not_ok "labelled create-namespace -m sector -l $ss"; fi
		exercise "$ns" "$dev" $ss "ss$ss"
	done
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	ktap_check "unload the nvdimm stack" nd_unload
	ktap_check "kmemleak reports nothing" kmemleak_clean
}

verify_phase() {
	n=$(wc -l <$STATE 2>/dev/null || echo 0)
	ktap_header $((n + 4))
	ktap_check "load the nvdimm stack with the $DRIVER BTT driver" nd_load "$DRIVER"
	diag "BTT driver: $(btt_driver_name)"
	while read -r tag dev bs count seek sum; do
		got=$(read_sum /dev/$dev "$bs" "$count" "$seek")
		if [ "$got" = "$sum" ]; then ktap_ok "$tag data on $dev survives a reboot"; else
			ktap_not_ok "$tag data on $dev survives a reboot (checksum mismatch)"; fi
	done <$STATE
	ktap_check "destroy all namespaces" ndctl destroy-namespace -f all
	ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
	ktap_check "unload the nvdimm stack" nd_unload
}

case $PHASE in
create) create_phase ;;
verify) verify_phase ;;
*) echo "unknown phase $PHASE"; exit 2 ;;
esac
ktap_finish
