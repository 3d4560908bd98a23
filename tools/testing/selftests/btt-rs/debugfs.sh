#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The debugfs view btt/<device>/arenaN/ (what ndctl's btt-pad-compat test reads):
# the C driver's files and values, then btt_rs's on the same namespace, which
# must be identical file for file. Also: btt_rs refuses to load while nd_btt
# holds the entry points, with a message naming the symbol.
. /btt/tools/testing/guest/lib.sh
DBG=/sys/kernel/debug/btt
[ -d /sys/kernel/debug/btt ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null

ktap_header 9
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
# What users and ndctl see: the disk's sysfs attributes, the BTT device's, ndctl's JSON.
user_view() { # OUT
	{
		for f in size ro removable queue/logical_block_size queue/physical_block_size \
			queue/max_hw_sectors_kb queue/rotational queue/io_poll integrity/format \
			integrity/tag_size integrity/protection_interval_bytes; do
			echo "$f $(cat /sys/block/$dev/$f 2>/dev/null)"
		done
		b=$(basename "$(readlink -f /sys/block/$dev/device 2>/dev/null)")
		for f in size sector_size uuid namespace; do echo "btt/$f $(cat /sys/bus/nd/devices/$b/$f 2>/dev/null)"; done
		ndctl list -N -n "$ns" 2>/dev/null | tr -d ' \n'; echo
	} >"$1"
}
ns=$(echo "$json" | grep -o '"dev":"[^"]*"' | head -1 | cut -d'"' -f4)
user_view /tmp/c.user
ktap_check "C driver's debugfs view exists" snapshot /tmp/c.view
sed 's/^/# c: /' /tmp/c.view | head -20
ktap_check "switch to btt_rs" nd_switch rs
ktap_check "btt_rs's debugfs view exists" snapshot /tmp/rs.view
if cmp -s /tmp/c.view /tmp/rs.view; then ktap_ok "btt_rs's debugfs files and values equal the C driver's"; else
	diff /tmp/c.view /tmp/rs.view | sed 's/^/# /'; ktap_not_ok "btt_rs's debugfs files and values equal the C driver's"; fi
user_view /tmp/rs.user
sed 's/^/# user view: /' /tmp/rs.user
if cmp -s /tmp/c.user /tmp/rs.user; then ktap_ok "disk sysfs, BTT device sysfs and ndctl list are the same as with C"; else
	diff /tmp/c.user /tmp/rs.user | sed 's/^/# /'; ktap_not_ok "disk sysfs, BTT device sysfs and ndctl list are the same as with C"; fi
# The root is the module's: gone when btt_rs unloads (every BTT detached
# first), back with the same view when it loads again.
unloaded_without_root() {
	rmmod nd_pmem && rmmod btt_rs && [ ! -e "$DBG" ]
}
ktap_check "btt_rs's debugfs root is removed with the module" unloaded_without_root
reloaded_same_view() {
	nd_load_btt rs && insmod $MODDIR/nd_pmem.ko && nd_settle && snapshot /tmp/rs2.view && cmp -s /tmp/c.view /tmp/rs2.view
}
ktap_check "btt_rs reloaded: the same debugfs view again" reloaded_same_view
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_finish
