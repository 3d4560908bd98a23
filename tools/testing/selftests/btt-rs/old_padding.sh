#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A BTT with the pre-4.15 flog padding (live entries in slots 0 and 2), made on
# the host by `btt create --old-padding` at namespace offset 4096 (BTT 1.1, so
# libnvdimm finds it on a label-less namespace at boot). btt_rs must detect the
# padding (debugfs log_index_1 = 2), read and write the namespace, and keep the
# padding (the host checks the image afterwards with `btt info` and reads the
# written sectors back with `btt read`). The C driver reads the same data.
. /btt/tools/testing/guest/lib.sh
DBG=/sys/kernel/debug/btt
[ -d $DBG ] || mount -t debugfs none /sys/kernel/debug 2>/dev/null

ktap_header 8
ktap_check "load the nvdimm stack with btt_rs" nd_load rs
# The BTT device is registered while nd_pmem probes the namespace and probes
# asynchronously: wait for its disk.
wait_btt_disks 1
dev=$(ls /sys/block | grep 's$' | head -1)
if [ -n "$dev" ] && [ -b /dev/$dev ]; then ktap_ok "libnvdimm finds the BTT and btt_rs attaches it ($dev)"; else
	ls /sys/block | sed 's/^/# block: /'; ktap_not_ok "btt_rs attaches the old-padding BTT"; fi
idx="$(cat $DBG/*/arena0/log_index_0 2>/dev/null) $(cat $DBG/*/arena0/log_index_1 2>/dev/null)"
if [ "$idx" = "0 2" ]; then ktap_ok "btt_rs detects the (0, 2) padding"; else ktap_not_ok "btt_rs detects the (0, 2) padding (log_index: $idx)"; fi
: >/out/old_padding.sums
ok=0
for lba in 0 7 100 1000; do
	write_pattern /dev/$dev 4096 1 $lba /tmp/one || ok=1
	echo "$lba $(file_sum /tmp/one)" >>/out/old_padding.sums
	[ "$(read_sum /dev/$dev 4096 1 $lba)" = "$(file_sum /tmp/one)" ] || ok=1
done
# Overwrite one sector many times so every lane's flog slots cycle.
for i in 1 2 3 4 5 6; do write_pattern /dev/$dev 4096 1 7 /tmp/seven || ok=1; done
sed -i "s/^7 .*/7 $(file_sum /tmp/seven)/" /out/old_padding.sums
if [ $ok = 0 ]; then ktap_ok "btt_rs writes and reads back"; else ktap_not_ok "btt_rs writes and reads back"; fi
ktap_check "switch to the C driver" nd_switch c
wait_btt_disks 1
bad=0
while read -r lba sum; do [ "$(read_sum /dev/$dev 4096 1 "$lba")" = "$sum" ] || bad=1; done </out/old_padding.sums
if [ $bad = 0 ]; then ktap_ok "C reads what btt_rs wrote on the old-padding BTT"; else ktap_not_ok "C reads what btt_rs wrote"; fi
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_check "unload the nvdimm stack" nd_unload
ktap_finish
