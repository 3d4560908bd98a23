#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The on-media format is shared: data written through one BTT driver is read back
# identically by the other, on the same namespace, in one boot. KTAP output.
# Usage: cross_driver.sh SECTOR_SIZE
. /btt/tools/testing/guest/lib.sh
SS=${1:-4096}

ktap_header 11
ktap_check "load the nvdimm stack with the C driver" nd_load c
ndctl disable-region all >/dev/null 2>&1
ndctl init-labels -f all >/dev/null 2>&1
ndctl enable-region all >/dev/null 2>&1
json=$(ndctl create-namespace -r region0 -m sector -l "$SS" -s 128M 2>&1)
dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
ns=$(echo "$json" | grep -o '"dev":"[^"]*"' | head -1 | cut -d'"' -f4)
if [ -b "/dev/$dev" ]; then ktap_ok "C driver creates a $SS-byte sector namespace ($ns, $dev)"; else
	echo "$json" | sed 's/^/# /'; ktap_not_ok "C driver creates a $SS-byte sector namespace"; fi

# roundtrip FROM TO TAG SEEK: write with FROM, switch to TO, read back and compare.
roundtrip() {
	write_pattern /dev/$dev 4096 1024 "$4" /tmp/$3 && [ "$(read_sum /dev/$dev 4096 1024 "$4")" = "$(file_sum /tmp/$3)" ]
	ktap_check_rc $? "$1 writes 4 MiB at block $4"
	ktap_check "switch BTT driver $1 -> $2" nd_switch "$2"
	diag "BTT driver now: $(btt_driver_name)"
	[ -b /dev/$dev ] && [ "$(read_sum /dev/$dev 4096 1024 "$4")" = "$(file_sum /tmp/$3)" ]
	ktap_check_rc $? "$2 reads back what $1 wrote"
}
ktap_check_rc() { if [ "$1" = 0 ]; then ktap_ok "$2"; else ktap_not_ok "$2"; fi; }

roundtrip c rs from-c 100
roundtrip rs c from-rs 3000
# The first write by C must still be intact after Rust's writes and the switch back.
[ "$(read_sum /dev/$dev 4096 1024 100)" = "$(file_sum /tmp/from-c)" ]
ktap_check_rc $? "C still reads its own earlier data after btt_rs wrote"
ndctl disable-namespace "$ns" >/dev/null 2>&1
ktap_check "ndctl check-namespace after both drivers wrote" ndctl check-namespace "$ns"
ndctl enable-namespace "$ns" >/dev/null 2>&1
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_finish
