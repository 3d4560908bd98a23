#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Per-sector integrity metadata from user space (btt_pi, built from btt_pi.c
# into the initramfs): FS_IOC_GETLBMD_CAP and io_uring read/write with the PI
# attribute, on BTTs with 520, 528, 4104, 4160 and 4224-byte sectors, written and
# read by btt_rs, by the C nd_btt, and by one after the other (one boot, all
# five namespaces side by side in one region). What Linux 7.3 refuses is
# asserted as refused (the errno it returns today), so a change shows up.
# KTAP output.
. /btt/tools/testing/guest/lib.sh
SIZES="520 528 4104 4160 4224"
nsizes=5

# Per size: btt_rs 5 points, C 5, btt_rs again 2; then 8 refusal/edge points.
ktap_header $((4 + nsizes * 12 + 8 + 2))
ktap_check "load the nvdimm stack with btt_rs" nd_load rs
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1
ndctl enable-region all >/dev/null 2>&1

# lbs SIZE: the logical block size of a BTT with SIZE-byte internal sectors.
lbs() { if [ "$1" -ge 4096 ]; then echo 4096; else echo 512; fi; }
# N SIZE: blocks per small I/O (32 KiB or 64 KiB); BIG SIZE: 1.5 MiB in blocks
# (two bios: __blkdev_direct_IO() puts at most 256 pages in one).
n_of() { if [ "$1" -ge 4096 ]; then echo 16; else echo 64; fi; }
big_of() { echo $((1536 * 1024 / $(lbs "$1"))); }
var() { eval echo "\$$1"; }

made=0
for s in $SIZES 4096; do
	json=$(ndctl create-namespace -r region0 -m sector -l "$s" -s 32M 2>&1)
	d=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
	if [ -b "/dev/$d" ]; then
		eval "dev_$s=$d"
		made=$((made + 1))
	else
		echo "$json" | sed 's/^/# /'
	fi
done
diag "namespaces: $(for s in $SIZES 4096; do printf '%s:%s ' "$s" "$(var dev_$s)"; done)"
if [ $made = $((nsizes + 1)) ]; then ktap_ok "six sector namespaces (520 528 4104 4160 4224 4096) in region0"; else
	ktap_not_ok "six sector namespaces (520 528 4104 4160 4224 4096) in region0 (made $made)"; fi

# What FS_IOC_GETLBMD_CAP reports for a BTT: the metadata is opaque (no PI
# tuple, no guard, no tags) and the kernel does not call the device
# integrity-capable (lbmd_flags 0: BLK_INTEGRITY_DEVICE_CAPABLE is not set).
cap_want() { # SIZE
	m=$(($1 - $(lbs "$1")))
	echo "flags=0 interval=$(lbs "$1") size=$m opaque_size=$m opaque_offset=0 pi_size=0 pi_offset=0 guard=0 app_tag_size=0 ref_tag_size=0 storage_tag_size=0"
}
# The same in sysfs: format "nop" (no PI profile), tag_size the metadata size,
# device_is_integrity_capable 0.
check_cap() { # DRIVER SIZE
	_i=/sys/block/$(var dev_$2)/integrity
	got="$(btt_pi cap "/dev/$(var dev_$2)" 2>&1) sysfs=$(cat $_i/format),$(cat $_i/tag_size),$(cat $_i/device_is_integrity_capable)"
	want="$(cap_want "$2") sysfs=nop,$(($2 - $(lbs "$2"))),0"
	if [ "$got" = "$want" ]; then ktap_ok "$1 $2: FS_IOC_GETLBMD_CAP and sysfs: $(($2 - $(lbs "$2"))) opaque bytes per $(lbs "$2")-byte block, no PI"; else
		diag "got:  $got"; diag "want: $want"; ktap_not_ok "$1 $2: FS_IOC_GETLBMD_CAP and sysfs"; fi
}
# pi NAME btt_pi-ARGS... | pi NAME sh -c CMD: one test point from btt_pi (or
# a command line of several); its output as diagnostics on failure.
pi() {
	_n=$1
	shift
	[ "$1" = sh ] || set -- btt_pi "$@"
	if _o=$("$@" 2>&1); then ktap_ok "$_n"; else
		echo "$_o" | sed 's/^/# /'; ktap_not_ok "$_n"; fi
}

# Seeds: 1 written by btt_rs with PI at lba 0; 2 written by btt_rs without PI at
# lba N; 3 the 1.5 MiB write at 2N; 4 written by C with PI at 2N + BIG; 5
# written by C without PI at 3N + BIG. A write without the PI attribute still
# carries metadata: the block layer attaches a zeroed buffer to every write bio
# of a disk with metadata and no PI tuple (__bio_integrity_action(): BI_ACT_ZERO).
for s in $SIZES; do
	d=/dev/$(var dev_$s) n=$(n_of $s) big=$(big_of $s)
	check_cap btt_rs $s
	pi "btt_rs $s: io_uring write of $n blocks with metadata" write $d 0 $n 1
	pi "btt_rs $s: io_uring read returns the data and the metadata written" read $d 0 $n 1
	btt_pi write $d $n $n 2 --no-pi >/dev/null
	pi "btt_rs $s: a write without metadata stores zeroes as metadata" read $d $n $n 2 --zero-meta
	btt_pi write $d $((2 * n)) $big 3 --meta-offset 1 >/dev/null
	pi "btt_rs $s: 1.5 MiB (two bios), metadata buffer not aligned: read back" read $d $((2 * n)) $big 3 --meta-offset 3
done

ktap_check "switch BTT driver btt_rs -> C" nd_switch c
wait_btt_disks 6 || diag "only $(ls /sys/block | grep -c 's$') BTT disks"
for s in $SIZES; do
	d=/dev/$(var dev_$s) n=$(n_of $s) big=$(big_of $s)
	check_cap nd_btt $s
	pi "nd_btt $s: reads data and metadata btt_rs wrote" read $d 0 $n 1
	pi "nd_btt $s: reads btt_rs's zeroed metadata and its 1.5 MiB" sh -c \
		"btt_pi read $d $n $n 2 --zero-meta && btt_pi read $d $((2 * n)) $big 3"
	pi "nd_btt $s: io_uring write with metadata, read back" sh -c \
		"btt_pi write $d $((2 * n + big)) $n 4 && btt_pi read $d $((2 * n + big)) $n 4"
	btt_pi write $d $((3 * n + big)) $n 5 --no-pi >/dev/null
	pi "nd_btt $s: a write without metadata stores zeroes as metadata" read $d $((3 * n + big)) $n 5 --zero-meta
done

ktap_check "switch BTT driver C -> btt_rs" nd_switch rs
wait_btt_disks 6 || diag "only $(ls /sys/block | grep -c 's$') BTT disks"
for s in $SIZES; do
	d=/dev/$(var dev_$s) n=$(n_of $s) big=$(big_of $s)
	pi "btt_rs $s: reads data and metadata nd_btt wrote (and its zeroes)" sh -c \
		"btt_pi read $d $((2 * n + big)) $n 4 && btt_pi read $d $((3 * n + big)) $n 5 --zero-meta"
	pi "btt_rs $s: its own earlier data and metadata intact" read $d 0 $n 1
done

# What 7.3 refuses or does not do (block/bio-integrity.c, io_uring/rw.c).
d=/dev/$dev_520
pi "a metadata buffer shorter than the I/O needs: EINVAL (bio_integrity_map_iter)" \
	write $d 0 8 5 --meta-len 63 --expect-errno EINVAL
pi "PI attribute without O_DIRECT: EOPNOTSUPP (io_uring/rw.c)" \
	read $d 0 8 1 --buffered --expect-errno EOPNOTSUPP
pi "the data and metadata at lba 0 untouched by the refused write" read $d 0 8 1
# IO_INTEGRITY_CHK_GUARD asks for a guard check; with no PI format there is
# nothing to check against, and nothing does: arbitrary bytes are stored.
pi "IO_INTEGRITY_CHK_GUARD is accepted and not checked (no PI tuple)" sh -c \
	"btt_pi write $d 4000 8 6 --flags 1 && btt_pi read $d 4000 8 6 --flags 1"
# integrity/write_generate 0 does not keep old metadata either: the zeroed
# buffer is attached anyway (BLK_INTEGRITY_NOGENERATE -> BI_ACT_ZERO).
d=/dev/$dev_528
btt_pi write $d 4000 8 9 >/dev/null
echo 0 >/sys/block/$dev_528/integrity/write_generate
btt_pi write $d 4000 8 10 --no-pi >/dev/null
pi "528: with write_generate 0, a write without metadata still zeroes it" read $d 4000 8 10 --zero-meta
echo 1 >/sys/block/$dev_528/integrity/write_generate
# A BTT without metadata (4096-byte sectors): nothing to report, PI refused.
d=/dev/$dev_4096
got=$(btt_pi cap $d 2>&1)
if [ "$got" = "$(echo "flags=0 interval=0 size=0 opaque_size=0 opaque_offset=0 pi_size=0 pi_offset=0 guard=0 app_tag_size=0 ref_tag_size=0 storage_tag_size=0")" ]; then
	ktap_ok "4096: FS_IOC_GETLBMD_CAP reports no metadata"; else diag "got: $got"; ktap_not_ok "4096: FS_IOC_GETLBMD_CAP reports no metadata"; fi
pi "4096: io_uring I/O with the PI attribute: EINVAL (no FMODE_HAS_METADATA)" \
	write $d 0 1 7 --meta-size 8 --expect-errno EINVAL
pi "4096: plain io_uring I/O still works" sh -c \
	"btt_pi write $d 0 4 8 --no-pi && btt_pi read $d 0 4 8 --no-pi"

ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_check "unload the nvdimm stack" nd_unload
ktap_finish
