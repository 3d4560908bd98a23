#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The guest side of `make run`: load the nvdimm stack with the chosen BTT driver,
# create a sector namespace with ndctl, write and read back data, and report.
# Usage: demo.sh c|rs
. /btt/tools/testing/guest/lib.sh
DRIVER=${1:-rs}

nd_load "$DRIVER" || { echo "run: loading the nvdimm stack with the $DRIVER driver failed"; exit 1; }
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1 || { echo "run: ndctl init-labels failed"; exit 1; }
ndctl enable-region all >/dev/null 2>&1
json=$(ndctl create-namespace -r region0 -m sector -l 4096 2>&1) || {
	echo "$json"
	echo "run: ndctl create-namespace -m sector failed"
	exit 1
}
echo "$json"
field() { echo "$json" | grep -o "\"$1\":[^,}]*" | head -1 | cut -d: -f2 | tr -d '" '; }
dev=$(field blockdev)
ns=$(field dev)
[ -b "/dev/$dev" ] || { echo "run: no block device /dev/$dev"; exit 1; }

mib=16
write_pattern /dev/$dev 4096 $((mib * 256)) 0 /tmp/run.data || { echo "run: write failed"; exit 1; }
want=$(file_sum /tmp/run.data)
got=$(read_sum /dev/$dev 4096 $((mib * 256)) 0)
if [ "$want" = "$got" ]; then match="match"; else match="MISMATCH"; fi
sectors=$(($(cat /sys/block/$dev/size) * 512 / $(cat /sys/block/$dev/queue/logical_block_size)))
raw=$(($(cat /sys/bus/nd/devices/$ns/size) / 1048576))

echo
echo "==================== btt-rs run report ===================="
echo "  BTT driver   : $(btt_driver_name)"
echo "  kernel       : $(uname -r) ($FLAVOUR flavour)"
echo "  namespace    : $ns, mode $(field mode), raw size $raw MiB"
echo "  block device : /dev/$dev, $(cat /sys/block/$dev/queue/logical_block_size)-byte sectors, $sectors sectors ($(($(cat /sys/block/$dev/size) / 2048)) MiB)"
echo "  data         : $mib MiB written with O_DIRECT and read back: checksum $match"
echo "  sha256       : $want"
echo "==========================================================="
dmesg_clean || { echo "run: kernel log has splats (above)"; exit 1; }
[ "$match" = match ]
