#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The debugfs view btt/<device>/arenaN/ (what ndctl's btt-pad-compat test reads):
# the C driver's files and values, then btt_rs's on the same namespace, which
# must be identical file for file. Also: btt_rs refuses to load while nd_btt
# holds the entry points, with a message naming the symbol.
. /btt/tools/testing/guest/lib.sh
DBG=/sys/kernel/debug/btt
[ -d /sys/kernel/debug/btt ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null

ktap_header 8
ktap_check "load the nvdimm stack with the C driver" nd_load c
before=$(dmesg | wc -l)
if insmod "$BTT_RS_KO" 2>/dev/null; then
	rmmod btt_rs; ktap_not_ok "btt_rs loads while nd_btt is loaded"
else
	msg=$(dmesg | tail -n +$((before + 1)) | grep -m1 'nvdimm_namespace_attach_btt')
	diag "kernel: ${msg#*] }"
	if [ -n "$msg" ]; then ktap_ok "btt_rs refuses to load next to nd_btt, naming the symbol"; else
		ktap_not_ok "btt_rs refuses to load next to nd_btt, naming the symbol"; fi
fi
json=$(ndctl create-namespace -f -e namespace0.0 -m sector -l 4096 2>&1)
dev=$(echo "$json" | grep -o '"blockdev":"[^"]*"' | cut -d'"' -f4)
if [ -b "/dev/$dev" ]; then ktap_ok "C driver creates a sector namespace ($dev)"; else
	echo "$json" | sed 's/^/# /'; ktap_not_ok "C driver creates a sector namespace"; fi
dd if=/dev/urandom of=/dev/$dev bs=4096 count=64 oflag=direct 2>/dev/null

snapshot() { # OUT: every arena file as "arenaN/name value"
	: >"$1"
	for d in "$DBG"/*/arena*; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do echo "${d##*/}/${f##*/} $(cat "$f")"; done >>"$1"
	done
	[ -s "$1" ]
}
ktap_check "C driver's debugfs view exists" snapshot /tmp/c.view
sed 's/^/# c: /' /tmp/c.view | head -20
ktap_check "switch to btt_rs" nd_switch rs
ktap_check "btt_rs's debugfs view exists" snapshot /tmp/rs.view
if cmp -s /tmp/c.view /tmp/rs.view; then ktap_ok "btt_rs's debugfs files and values equal the C driver's"; else
	diff /tmp/c.view /tmp/rs.view | sed 's/^/# /'; ktap_not_ok "btt_rs's debugfs files and values equal the C driver's"; fi
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_finish
