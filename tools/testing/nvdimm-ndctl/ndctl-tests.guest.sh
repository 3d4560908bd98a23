#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Guest side of tools/testing/nvdimm-ndctl/run.sh: runs ndctl's own BTT tests
# (from ndctl's source package, staged in /opt/ndctl by the initramfs overlay)
# (and btt-errors-nofs.sh, ours: btt-errors.sh without ext4) against the
# nfit_test bus, with the chosen BTT driver, and prints KTAP: one
# test point per ndctl test (exit 0 = ok, 77 = SKIP with ndctl's reason, anything
# else = not ok), each also failing on a kernel splat during it; then the stack's
# unload and a kmemleak scan. Each test's full output is in /out/<test>.log.
#
# Usage: ndctl-tests.guest.sh c|rs [TEST.sh...]
. /btt/tools/testing/guest/lib.sh

driver=${1:?usage: ndctl-tests.guest.sh c|rs [TEST.sh...]}
shift
tests=${*:-btt-check.sh btt-errors.sh btt-pad-compat.sh sector-mode.sh btt-errors-nofs.sh btt-poisoned-metadata.sh}
T=/opt/ndctl/test
# Our own adaptations of ndctl tests, run the same way (see their headers).
OURS=$(dirname "$0")
TEST_TIMEOUT=${NDCTL_TEST_TIMEOUT:-900}

# The ndctl that matches the tests, its libraries ahead of the host's older ones.
export NDCTL=/opt/ndctl/bin/ndctl DAXCTL=/opt/ndctl/bin/daxctl CXL=/bin/false
export LD_LIBRARY_PATH=/opt/ndctl/lib
# kmod's, by path: busybox sh runs its own modprobe/depmod applets ahead of PATH,
# and busybox's depmod neither resolves symbols nor writes the .bin indexes kmod
# reads. (The tests run under bash, whose PATH lookup finds kmod's.)
MODPROBE=/usr/sbin/modprobe
DEPMOD=/usr/sbin/depmod
case $driver in
c) want=nd_btt other=btt_rs ;;
rs) want=btt_rs other=nd_btt ;;
*) echo "unknown driver '$driver' (c or rs)"; exit 2 ;;
esac

n=0
for t in $tests; do n=$((n + 1)); done
ktap_header $((n + 2))
diag "ndctl $(cat /opt/ndctl/VERSION) tests, BTT driver $driver, kernel $KVER"

# nd_pmem needs the BTT driver (nvdimm_namespace_attach_btt), so modprobe, and
# the tests' own "modprobe nfit_test" / "modprobe -r nfit_test", load and unload
# the BTT driver with nfit_test's other dependencies. With rs, btt_rs.ko takes
# nd_btt.ko's place in the module directory and depmod runs again: nd_btt then
# cannot be loaded at all, and every BTT in the run is btt_rs's.
if [ "$driver" = rs ]; then
	[ -f "$BTT_RS_KO" ] || { diag "no $BTT_RS_KO: build it with 'make module'"; ktap_not_ok "load the nfit_test nvdimm stack"; exit 1; }
	rm -f "$MODDIR/nd_btt.ko"
	cp "$BTT_RS_KO" "$MODDIR/btt_rs.ko"
	$DEPMOD || { diag "depmod failed"; ktap_not_ok "load the nfit_test nvdimm stack"; exit 1; }
	grep -q '^nd_pmem.ko:.* btt_rs.ko' "$MODDIR/modules.dep" ||
		{ diag "depmod: nd_pmem does not depend on btt_rs"; ktap_not_ok "load the nfit_test nvdimm stack"; exit 1; }
fi
if ! _out=$(nfit_stack_load $want 2>&1); then
	echo "$_out" | sed 's/^/# /'
	diag "cannot load the nfit_test stack with driver $driver"
	ktap_not_ok "load the nfit_test nvdimm stack"
	exit 1
fi
diag "loaded: $(lsmod | awk 'NR > 1 {print $1}' | tr '\n' ' ')"

# The other BTT driver never got loaded.
driver_ok() {
	[ ! -d /sys/module/$other ] || { diag "$other got loaded"; return 1; }
}

run_test() {
	name=$1
	log=/out/$name.log
	script=$T/$name
	[ -f "$script" ] || script=$OURS/$name
	if [ ! -f "$script" ]; then
		diag "no $name in ndctl $(cat /opt/ndctl/VERSION) nor in $OURS"
		ktap_not_ok "$name"
		return
	fi
	# btt-errors.sh puts ext4 on the BTT to find a file's blocks; ndctl's
	# check_prereq would miss a kernel without ext4 and fail at mkfs time.
	if [ "$name" = btt-errors.sh ] && ! grep -qw ext4 /proc/filesystems; then
		ktap_skip "$name" "guest kernel has no ext4 (CONFIG_EXT4_FS is not set), which this test mounts on the BTT"
		return
	fi
	mark=$(dmesg | wc -l)
	work=/tmp/work-$name
	rm -rf "$work"
	mkdir -p "$work"
	start=$(date +%s)
	(cd "$work" && timeout -s KILL "$TEST_TIMEOUT" bash "$script") >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	rm -rf "$work"
	splats=$(dmesg | tail -n +$((mark + 1)) | grep -E "$DMESG_BAD")
	diag "$name: exit $rc after ${secs}s (log: $log)"
	case $rc in
	0)
		if [ -n "$splats" ]; then
			echo "$splats" | head -30 | sed 's/^/# dmesg: /'
			diag "$name passed, but the kernel logged a splat"
			ktap_not_ok "$name"
		elif ! driver_ok; then
			ktap_not_ok "$name"
		else
			ktap_ok "$name"
		fi
		;;
	77)
		reason=$(grep -E '^kernel [^ ]*: ' "$log" | tail -1 | sed 's/^kernel [^ ]*: //')
		ktap_skip "$name" "${reason:-exit 77 (ndctl: skipped)}"
		;;
	*)
		# ndctl's tests clean up (_cleanup) only when they pass: do it here, so
		# that the next test starts from a fresh nfit_test as it would.
		$NDCTL disable-region -b nfit_test.0 all >/dev/null 2>&1
		$NDCTL disable-region -b nfit_test.1 all >/dev/null 2>&1
		$MODPROBE -r nfit_test >/dev/null 2>&1
		tail -25 "$log" | sed 's/^/# /'
		# what the nvdimm and BTT drivers said during the test
		dmesg | tail -n +$((mark + 1)) | grep -iE 'btt|nd_pmem|arena' | tail -10 | sed 's/^/# dmesg: /'
		[ -n "$splats" ] && echo "$splats" | head -30 | sed 's/^/# dmesg: /'
		[ $rc = 137 ] && diag "killed after ${TEST_TIMEOUT}s"
		ktap_not_ok "$name"
		;;
	esac
}

for t in $tests; do run_test "$t"; done

# Everything unloads (nfit_test may already be gone: _cleanup removes it) and
# kmemleak finds nothing.
if _out=$(nfit_stack_unload 2>&1) && ! lsmod | grep -qE '^(libnvdimm|nfit_test|nd_btt|btt_rs) '; then
	ktap_ok "the nvdimm stack and $want unload"
else
	echo "$_out" | sed 's/^/# /'
	diag "still loaded: $(lsmod | awk 'NR > 1 {print $1}' | tr '\n' ' ')"
	ktap_not_ok "the nvdimm stack and $want unload"
fi
# kmemleak, less two known leaks of the test fixture itself (nfit_test.c frees
# neither; the module is gone by the scan, so its frames cannot be named and the
# reports are told apart by where and by whom they were allocated):
#  - nfit_test_probe() kzalloc()s the union acpi_object (type 3, ACPI_TYPE_BUFFER)
#    of nfit_test.0's _FIT, once per "modprobe nfit_test": allocated by modprobe
#    under platform_probe (no nvdimm or BTT driver is a platform driver), first
#    word 3;
#  - the error-injection command of nfit_test's ND_CMD_CALL handler adds a
#    32-byte badrange_entry to the nfit_test's own list (badrange_add) that its
#    release never frees: allocated by ndctl under ioctl (ndctl inject-error; no
#    ioctl reaches a BTT driver).
kmemleak_clean_fixture() {
	[ -w /sys/kernel/debug/kmemleak ] || { diag "kmemleak not available"; return 0; }
	echo scan >/sys/kernel/debug/kmemleak
	sleep 1
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >/tmp/kmemleak
	awk -v known=/tmp/kmemleak.known -v other=/tmp/kmemleak.other '
		function flush() {
			if (rec == "") return
			if (rec ~ /comm "modprobe"/ && rec ~ /platform_probe/ && rec ~ /do_init_module/ &&
			    rec ~ /hex dump[^\n]*\n *03 00 00 00 /) printf "fit %s", rec >known
			else if (rec ~ /\(size 32\)/ && rec ~ /comm "ndctl"/ && rec ~ /sys_ioctl/) printf "badrange %s", rec >known
			else printf "%s", rec >other
			rec = ""
		}
		/^unreferenced object/ { flush() }
		{ rec = rec $0 "\n" }
		END { flush(); printf "" >known; printf "" >other }' /tmp/kmemleak
	nfit=$(grep -c '^fit unreferenced object' /tmp/kmemleak.known)
	nbad=$(grep -c '^badrange unreferenced object' /tmp/kmemleak.known)
	[ "$nfit$nbad" = 00 ] ||
		diag "kmemleak: ignored nfit_test's own leaks: $nfit _FIT object(s) (nfit_test_probe), $nbad injected-error badrange entr(y/ies)"
	[ -s /tmp/kmemleak.other ] || return 0
	head -60 /tmp/kmemleak.other | sed 's/^/# kmemleak: /'
	return 1
}
if kmemleak_clean_fixture && dmesg_clean; then
	ktap_ok "no kernel splat, no kmemleak report"
else
	ktap_not_ok "no kernel splat, no kmemleak report"
fi
ktap_finish
