#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Bad-image suite, first boot: one v1.1-labelled sector namespace (4096-byte
# sectors) on every region, 64 sectors of random data on each, kept in /out as
# data-NSUUID (the namespace's uuid, which the BTT info block carries as its
# parent uuid; ndctl's "uuid" of a sector namespace is the BTT's own).
. /btt/tools/testing/guest/lib.sh
nd_load c || exit 1
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null || exit 1
ndctl enable-region all >/dev/null 2>&1
for r in $(ls /sys/bus/nd/devices | grep '^region'); do
	json=$(ndctl create-namespace -r "$r" -m sector -l 4096) || exit 1
	dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
	ns=$(echo "$json" | grep -o '"dev":"namespace[^"]*"' | cut -d'"' -f4)
	uuid=$(cat /sys/bus/nd/devices/$ns/uuid) || exit 1
	write_pattern /dev/$dev 4096 64 0 /out/data-$uuid || exit 1
	echo "$r $uuid $dev"
done
nd_unload
