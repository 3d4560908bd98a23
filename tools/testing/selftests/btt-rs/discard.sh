#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Discard and write-zeroes on btt_rs (the map's zero flag), KTAP output:
# queue limits (advertised for 4096-byte sectors only: on smaller ones C's
# reader fills one zero-flagged sector per segment and leaves the rest, so
# there BLKZEROOUT writes zero pages and the same checks run with
# blkdiscard -z), blkdiscard of the whole disk and of ranges (ranges not aligned
# to the logical block size are refused; aligned ones zero exactly their
# sectors), blkdiscard -z, ext4 with -o discard + fallocate --punch-hole and
# fstrim; then the C driver reads the same data and zeroes, and ndctl
# check-namespace passes. One boot, three namespaces (512, 4096, ext4 on 4096).
. /btt/tools/testing/guest/lib.sh

ns_json_field() { # FIELD: from ndctl JSON on stdin
	grep -o "\"$1\":\"[^\"]*\"" | head -1 | cut -d'"' -f4
}
# zeroes DEV SKIP_MIB LEN: whether LEN bytes from SKIP_MIB MiB read as zeroes
# (O_DIRECT; cmp, not sha256sum: hashing costs more than the I/O under TCG).
zeroes() { dd if="$1" bs=1M skip="$2" iflag=direct 2>/dev/null | cmp -s -n "$3" - /dev/zero; }
# same_as DEV FILE: whether the disk starts with FILE.
same_as() { dd if="$1" bs=1M count=$(($(stat -c %s "$2") / 1048576)) iflag=direct 2>/dev/null | cmp -s - "$2"; }
# zero_file FILE OFF LEN: zeroes LEN bytes at OFF of FILE (the expected image).
zero_file() { dd if=/dev/zero of="$1" bs=512 seek=$(($2 / 512)) count=$(($3 / 512)) conv=notrunc 2>/dev/null; }
# markers DEV TAG: how many lines of the disk hold the marker TAG.
markers() { dd if="$1" bs=1M iflag=direct 2>/dev/null | grep -a -c "BTTRS-DISCARD-MARKER-$2"; }
# marker_file FILE TAG MIB: MIB MiB of lines naming TAG.
marker_file() { yes "BTTRS-DISCARD-MARKER-$2" | head -c $(($3 * 1048576)) >"$1"; }

# util-linux's tools (the initramfs has them in /usr/bin); busybox sh runs its
# own applets of the same names first, and they lack -z and --punch-hole.
BLKDISCARD=/usr/bin/blkdiscard FALLOCATE=/usr/bin/fallocate FSTRIM=/usr/bin/fstrim
WIN=$((8 * 1048576)) # the window the range tests write, at the start of the disk

# ranges TAG DEV SS: discard and zeroing of ranges; leaves /tmp/TAG.img as
# the expected content of the window, the rest of the disk zero.
ranges() {
	tag=$1 dev=/dev/$2 ss=$3
	q=/sys/block/$2/queue
	dmax=$(cat $q/discard_max_bytes) dgran=$(cat $q/discard_granularity)
	zmax=$(cat $q/write_zeroes_max_bytes) zunmap=$(cat $q/write_zeroes_unmap_max_bytes 2>/dev/null)
	diag "$tag: discard_max_bytes $dmax granularity $dgran write_zeroes_max_bytes $zmax unmap $zunmap"
	if [ "$ss" -ge 4096 ]; then
		[ "$dmax" -gt 0 ] && [ "$dgran" = "$ss" ] && [ "$zmax" -gt 0 ] && [ "$zunmap" = "$zmax" ]
		ktap_result $? "$tag queue limits: discard and write-zeroes advertised, granularity $ss"
		zero="$BLKDISCARD"
	else
		# Sectors smaller than a page: C's reader misreads the zero flag
		# (it fills one sector of a segment), so neither is advertised and
		# BLKZEROOUT writes zero pages (normal BTT writes) instead.
		[ "$dmax" = 0 ] && [ "$zmax" = 0 ] && ! $BLKDISCARD -o 0 -l "$ss" "$dev" 2>/dev/null
		ktap_result $? "$tag queue limits: no discard, no write-zeroes (the C driver cannot read the zero flag on $ss-byte sectors); blkdiscard refused"
		zero="$BLKDISCARD -z"
	fi

	bytes=$(($(cat /sys/block/$2/size) * 512))
	# 4 MiB at the start and 4 MiB in the middle (every sector of a 512-byte
	# disk would cost a minute of TCG).
	write_pattern "$dev" 1048576 4 0 /tmp/$tag.fill && write_pattern "$dev" 1048576 4 32 /tmp/$tag.fill
	if [ "$ss" -ge 4096 ]; then
		what="of the whole disk"
		! zeroes "$dev" 0 "$bytes" && $zero "$dev" && zeroes "$dev" 0 "$bytes"
	else # zero pages over the whole disk would cost minutes of TCG
		what="of the 8 MiB written"
		! zeroes "$dev" 0 "$bytes" && $zero -o 0 -l 4194304 "$dev" && $zero -o 33554432 -l 4194304 "$dev" &&
			zeroes "$dev" 0 "$bytes"
	fi
	ktap_result $? "$tag $zero $what: the disk ($bytes bytes, 8 MiB written first) reads zeroes"

	write_pattern "$dev" 4096 $((WIN / 4096)) 0 /tmp/$tag.img
	cp /tmp/$tag.img /tmp/$tag.before
	$zero -o 1048576 -l 1048576 "$dev" && zero_file /tmp/$tag.img 1048576 1048576 &&
		same_as "$dev" /tmp/$tag.img
	ktap_result $? "$tag $zero of 1 MiB at 1 MiB: zeroes there, data around it"

	# Not a multiple of the logical block size: the kernel refuses it
	# (blk_validate_byte_range(): EINVAL), nothing changes. Busybox's
	# blkdiscard passes any range to BLKDISCARD (util-linux's refuses it
	# itself).
	! busybox blkdiscard -o $((3 * 1048576 + ss / 2)) -l "$ss" "$dev" 2>/dev/null &&
		! busybox blkdiscard -o $((3 * 1048576)) -l $((ss + ss / 2)) "$dev" 2>/dev/null &&
		! $BLKDISCARD -o $((3 * 1048576 + ss / 2)) -l "$ss" "$dev" 2>/dev/null &&
		same_as "$dev" /tmp/$tag.img
	ktap_result $? "$tag blkdiscard of a range not aligned to $ss bytes is refused, data intact"

	# Whole logical blocks, not whole pages: exactly those sectors.
	off=$((3 * 1048576 + 3 * ss)) len=$((5 * ss))
	$zero -o $off -l $len "$dev" && zero_file /tmp/$tag.img $off $len &&
		same_as "$dev" /tmp/$tag.img
	ktap_result $? "$tag $zero of $len bytes at $off (block-aligned): exactly those sectors"

	off=$((5 * 1048576 + ss)) len=$((1048576 - 2 * ss))
	$BLKDISCARD -z -o $off -l $len "$dev" && zero_file /tmp/$tag.img $off $len &&
		same_as "$dev" /tmp/$tag.img
	ktap_result $? "$tag blkdiscard -z of $len bytes at $off (BLKZEROOUT, write-zeroes)"

	# A write into a discarded range takes the normal path.
	dd if=/tmp/$tag.before of=/tmp/$tag.sector bs="$ss" skip=$((1048576 / ss + 7)) count=1 2>/dev/null
	dd if=/tmp/$tag.sector of="$dev" bs="$ss" seek=$((1048576 / ss + 7)) oflag=direct conv=notrunc 2>/dev/null &&
		dd if=/tmp/$tag.sector of=/tmp/$tag.img bs="$ss" seek=$((1048576 / ss + 7)) conv=notrunc 2>/dev/null &&
		same_as "$dev" /tmp/$tag.img
	ktap_result $? "$tag a write of a discarded sector reads back, its neighbours stay zero"
	zeroes "$dev" 8 $((bytes - WIN))
	ktap_result $? "$tag the rest of the disk still reads zeroes"
}

# verify_ranges TAG DEV SS: what ranges left, read by the driver now loaded.
verify_ranges() {
	tag=$1 dev=/dev/$2 ss=$3
	bytes=$(($(cat /sys/block/$2/size) * 512))
	[ -b "$dev" ] && same_as "$dev" /tmp/$tag.img &&
		zeroes "$dev" 8 $((bytes - WIN))
	ktap_result $? "$tag $(btt_driver_name) reads the same data and zeroes"
}

# ext4 DEV: mkfs (which discards), -o discard + punch-hole, fstrim.
ext4_phase() {
	dev=/dev/$1
	mkfs.ext4 -q -F -b 4096 "$dev" >/tmp/mkfs.out 2>&1
	rc=$?
	sed 's/^/# /' /tmp/mkfs.out
	ktap_result $rc "mkfs.ext4 on btt_rs (discards the disk first)"
	mkdir -p /mnt/e
	mount -t ext4 -o discard "$dev" /mnt/e
	ktap_result $? "mount -o discard"
	head -c 4194304 /dev/urandom >/tmp/keep
	head -c 2097152 /dev/urandom >/tmp/p1
	marker_file /tmp/p2 PUNCH 2
	head -c 2097152 /dev/urandom >/tmp/p3
	cat /tmp/p1 /tmp/p2 /tmp/p3 >/tmp/punch.src
	cp /tmp/keep /mnt/e/keep && cp /tmp/punch.src /mnt/e/punch && sync
	n=$(markers "$dev" PUNCH)
	[ "$n" -gt 0 ]
	ktap_result $? "the file's marker is on the disk ($n lines)"
	$FALLOCATE --punch-hole -o 2097152 -l 2097152 /mnt/e/punch && sync
	ktap_result $? "fallocate --punch-hole of the marker's 2 MiB"
	# -o discard: the freed blocks are discarded when the transaction commits.
	i=0
	while [ "$(markers "$dev" PUNCH)" != 0 ] && [ $i -lt 20 ]; do sync; sleep 0.5; i=$((i + 1)); done
	[ "$(markers "$dev" PUNCH)" = 0 ]
	ktap_result $? "the punched blocks were discarded: the marker is gone from the disk"
	cat /tmp/p1 >/tmp/punch.want && head -c 2097152 /dev/zero >>/tmp/punch.want && cat /tmp/p3 >>/tmp/punch.want
	[ "$(file_sum /mnt/e/punch)" = "$(file_sum /tmp/punch.want)" ] && [ "$(file_sum /mnt/e/keep)" = "$(file_sum /tmp/keep)" ]
	ktap_result $? "the files read back (the hole reads zeroes)"

	# Without -o discard, freed blocks keep their data until fstrim.
	mount -o remount,nodiscard /mnt/e
	marker_file /mnt/e/gone TRIM 3 && sync && rm /mnt/e/gone && sync
	n=$(markers "$dev" TRIM)
	[ "$n" -gt 0 ]
	ktap_result $? "a deleted file's marker is still on the disk without -o discard ($n lines)"
	$FSTRIM /mnt/e && [ "$(markers "$dev" TRIM)" = 0 ]
	ktap_result $? "fstrim discards it"
	umount /mnt/e
	ktap_result $? "umount"
}

ext4_verify() {
	dev=/dev/$1
	mount -t ext4 -o ro "$dev" /mnt/e &&
		[ "$(file_sum /mnt/e/punch)" = "$(file_sum /tmp/punch.want)" ] &&
		[ "$(file_sum /mnt/e/keep)" = "$(file_sum /tmp/keep)" ] && [ ! -e /mnt/e/gone ]
	ktap_result $? "ext4: $(btt_driver_name) mounts it and reads the files"
	umount /mnt/e 2>/dev/null
	[ "$(markers "$dev" PUNCH)" = 0 ] && [ "$(markers "$dev" TRIM)" = 0 ]
	ktap_result $? "ext4: the discarded blocks read zeroes under $(btt_driver_name)"
}

check_ns() { # NS TAG
	ndctl disable-namespace "$1" >/dev/null 2>&1
	ktap_check "$2 ndctl check-namespace ($1)" ndctl check-namespace "$1"
	ndctl enable-namespace "$1" >/dev/null 2>&1
}

ktap_header 38
ktap_check "load the nvdimm stack with btt_rs" nd_load rs
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1
ndctl enable-region all >/dev/null 2>&1
set -- 512 48M 4096 48M 4096 96M
for tag in ss512 ss4096 ext4; do
	json=$(ndctl create-namespace -r region0 -m sector -l "$1" -s "$2" 2>&1)
	dev=$(echo "$json" | ns_json_field blockdev)
	ns=$(echo "$json" | ns_json_field dev)
	if [ -n "$dev" ] && [ -b "/dev/$dev" ]; then ktap_ok "$tag: btt_rs namespace, $1-byte sectors ($ns, $dev)"; else
		echo "$json" | sed 's/^/# /'; ktap_not_ok "$tag: btt_rs namespace, $1-byte sectors"; fi
	eval "dev_$tag=$dev ns_$tag=$ns ss_$tag=$1"
	shift 2
done

ranges ss512 "$dev_ss512" 512
ranges ss4096 "$dev_ss4096" 4096
ext4_phase "$dev_ext4"
for tag in ss512 ss4096 ext4; do
	eval "check_ns \$ns_$tag $tag"
done

ktap_check "switch BTT driver rs -> c" nd_switch c
diag "BTT driver now: $(btt_driver_name)"
wait_btt_disks 3
verify_ranges ss512 "$dev_ss512" 512
verify_ranges ss4096 "$dev_ss4096" 4096
ext4_verify "$dev_ext4"
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_finish
