#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Loads btt_rs.ko, whose #[kunit_tests] suites run at load time, and turns every
# KUnit test case it reported in the kernel log into one KTAP test point here.
. /btt/tools/testing/guest/lib.sh

insmod $MODDIR/libnvdimm.ko && insmod $MODDIR/dax.ko || { echo "1..1"; ktap_not_ok "load libnvdimm and dax"; exit 1; }
before=$(dmesg | wc -l)
if ! insmod "$BTT_RS_KO"; then
	echo "TAP version 13"; echo "1..1"; ktap_not_ok "insmod btt_rs.ko"; exit 1
fi
log=$(dmesg | tail -n +$((before + 1)))
echo "$log" | grep -E 'KTAP|Subtest|ok [0-9]' | sed 's/^\[[^]]*\] *//; s/^/# kunit: /'
# KUnit test cases are the indented "ok N name" lines inside a suite.
cases=$(echo "$log" | sed 's/^\[[^]]*\] //' | grep -E '^ +(not )?ok [0-9]+ ' | grep -v '# Subtest')
n=$(echo "$cases" | grep -c 'ok [0-9]')
echo "TAP version 13"
echo "1..$((n + 3))"
[ "$n" -gt 0 ]
if [ $? = 0 ]; then ktap_ok "btt_rs ran $n KUnit test cases at load"; else ktap_not_ok "btt_rs ran no KUnit test case at load"; fi
echo "$cases" >/tmp/kunit.cases
while read -r line; do
	[ -n "$line" ] || continue
	name=$(echo "$line" | sed -E 's/^(not )?ok [0-9]+ //')
	case $line in not*) ktap_not_ok "kunit: $name" ;; *) ktap_ok "kunit: $name" ;; esac
done </tmp/kunit.cases
ktap_check "rmmod btt_rs" rmmod btt_rs
ktap_check "dmesg free of WARN/BUG/lockdep/sleep-in-atomic" dmesg_clean
ktap_finish
