#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest half of scripts/profile.sh: a 128 MiB namespace in MODE (raw, or sector
# mode with the C nd_btt "c", btt_rs "rs" or btt_rs sector by sector "rs1"),
# written once whole, then iol's measured loop between two requests to the
# host (files in /out) to switch QEMU's execution log on and off.
# Usage: profile.guest.sh MODE SECTOR_SIZE RW BS N
. /btt/tools/testing/guest/lib.sh
MODE=$1 SS=$2 RW=$3 BS=$4 N=$5
drv=$MODE
[ "$MODE" = raw ] && drv=c
nd_load "$drv" || exit 1
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null || exit 1
ndctl enable-region all >/dev/null 2>&1
if [ "$MODE" = raw ]; then
	json=$(ndctl create-namespace -r region0 -m raw -s 128M 2>&1)
else
	json=$(ndctl create-namespace -r region0 -m sector -l "$SS" -s 128M 2>&1)
fi
dev=/dev/$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
[ -b "$dev" ] || { echo "$json"; echo "# profile: no block device"; exit 1; }
cat /proc/kallsyms >/out/kallsyms
# Every block written once, so that reads read mapped blocks.
dd if=/dev/zero of="$dev" bs=128k oflag=direct 2>/dev/null
echo start >/out/profile-want
while [ ! -f /out/profile-on ]; do sleep 0.05; done
/btt/build/profile/iol "$dev" "$RW" "$BS" "$N" $((48 << 20)) || echo "# profile: iol failed"
echo stop >/out/profile-want
while [ ! -f /out/profile-off ]; do sleep 0.05; done
echo "# profile: $MODE ss$SS $RW bs$BS: $N I/Os measured"
