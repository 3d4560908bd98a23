#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boots the btt-rs guest under QEMU with an emulated NVDIMM and runs one command
# in it. The exit status is the guest command's; a guest that does not finish in
# time is killed and reported.
#
# Usage: scripts/qemu-run.sh [options] -- COMMAND...     (COMMAND runs in /btt)
#        scripts/qemu-run.sh [options] --shell            (interactive guest shell)
# Options:
#   --flavour debug|kasan|kcsan|plain  kernel flavour (default $BTT_FLAVOUR, else debug)
#   --img FILE             NVDIMM backing file, kept across boots (default build/nvdimm.img)
#   --size MIB             usable NVDIMM capacity when FILE is created (default 256)
#   --fresh                recreate the backing file (all zeroes)
#   --cpus N               guest CPUs (default 2)
#   --mem SIZE             guest RAM (default 1G)
#   --timeout S            host-side timeout in seconds (default 900)
#   --out DIR              results directory shared with the guest (default build/out)
#   --extra-nvdimm FILE    one more NVDIMM (its own region), same size rules; repeatable
#   --virtio-pmem          back the namespace by virtio-pmem instead of an NFIT NVDIMM
#   --initrd-extra CPIO    append this cpio archive to the initramfs (its files win)
#   --quiet                do not echo the guest console
#   --pidfile FILE         QEMU writes its pid there (for tests that kill it, e.g. power cuts)
#   --append ARGS          more kernel command-line arguments (e.g. acpi=noirq: boots ~35 s faster)
# Environment: BTT_KVM=1 uses KVM instead of TCG (guests fail under nested KVM here).
#   BTT_QEMU=10 (default) runs QEMU 10.0 from bookworm-backports (scripts/toolchain.sh
#   unpacks it), falling back to bookworm's 7.2 with a warning if it is missing;
#   BTT_QEMU=7.2 picks 7.2. BTT_TCG_THREADS=multi|single: multi-threaded TCG (one
#   host thread per vCPU) or one thread for all; default single (suites that want
#   parallel vCPUs ask for multi; 7.2's MTTCG oopses now and then, see below).
#   BTT_ICOUNT=N runs TCG with -icount shift=N,sleep=off: guest time advances 2^N ns
#   per guest instruction, so timings count guest work, whatever else loads the host.
#   BTT_QEMU_EXTRA="ARGS": more QEMU arguments, split on blanks (scripts/profile.sh:
#   a monitor socket and the instruction log). BTT_TCG_OPTS="K=V,...": more TCG
#   accelerator properties (scripts/profile.sh: one-insn-per-tb=on).
#   BTT_BOOT_DEADLINE=S (default 300; --quiet only): a guest that has not reached
#   /init by then is killed as a boot hang, exit status 125.
. "$(dirname "$0")/lib.sh"

flavour=${BTT_FLAVOUR:-debug} img=$BTT_TOP/build/nvdimm.img size=256 fresh=0 cpus=2 mem=1G timeout=900
out=$BTT_TOP/build/out shell=0 virtio=0 quiet=0 extra=() initrd_extra= pidfile= append=
while [ $# -gt 0 ]; do
	case $1 in
	--flavour) flavour=$2; shift 2 ;;
	--img) img=$2; shift 2 ;;
	--size) size=$2; shift 2 ;;
	--fresh) fresh=1; shift ;;
	--cpus) cpus=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--virtio-pmem) virtio=1; shift ;;
	--extra-nvdimm) extra+=("$2"); shift 2 ;;
	--initrd-extra) initrd_extra=$2; shift 2 ;;
	--quiet) quiet=1; shift ;;
	--pidfile) pidfile=$2; shift 2 ;;
	--append) append=$2; shift 2 ;;
	--shell) shell=1; shift ;;
	--help | -h) sed -n '3,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; break ;;
	*) die "unknown option '$1' (see --help)" ;;
	esac
done
[ $shell = 1 ] || [ $# -gt 0 ] || die "no guest command given (see --help)"
qemu_ver=${BTT_QEMU:-10}
case $qemu_ver in
10)
	qemu=$QEMU10_DIR/usr/bin/qemu-system-x86_64
	qemu_firmware=(-L "$QEMU10_DIR/usr/share/qemu" -L "$QEMU10_DIR/usr/share/seabios")
	if [ ! -x "$qemu" ]; then
		log "warning: QEMU 10 is not in $QEMU10_DIR (run scripts/toolchain.sh); using bookworm's QEMU 7.2"
		qemu_ver=7.2
	fi
	;;
7.2) ;;
*) die "BTT_QEMU=$qemu_ver: expected 10 or 7.2" ;;
esac
if [ "$qemu_ver" = 7.2 ]; then
	qemu=qemu-system-x86_64 qemu_firmware=()
	command -v "$qemu" >/dev/null || die "qemu-system-x86_64 missing: run scripts/toolchain.sh"
fi

kdir=$("$BTT_TOP/scripts/build-kernel.sh" "$flavour")
initrd=$BTT_TOP/build/$flavour/initramfs.cpio
mkdir -p "$(dirname "$initrd")"
if [ ! -f "$initrd" ] || [ "$kdir/.built" -nt "$initrd" ] ||
	[ "$BTT_TOP/tools/testing/guest/init" -nt "$initrd" ] || [ "$BTT_TOP/scripts/mkinitramfs.sh" -nt "$initrd" ] ||
	[ "$BTT_TOP/tools/testing/selftests/btt-rs/btt_pi.c" -nt "$initrd" ]; then
	log "building the $flavour initramfs"
	"$BTT_TOP/scripts/mkinitramfs.sh" "$kdir" "$initrd"
fi

mkdir -p "$out"
if [ -n "$initrd_extra" ]; then
	# The kernel unpacks concatenated cpio archives in order.
	[ -f "$initrd_extra" ] || die "no initramfs overlay $initrd_extra"
	cat "$initrd" "$initrd_extra" >"${initrd_extra%.cpio}.full.cpio"
	initrd=${initrd_extra%.cpio}.full.cpio
fi

# QEMU carves the 128 KiB label area out of the backing file; what is left is the
# namespace capacity, which QEMU wants aligned.
label=$((128 * 1024))
for f in "$img" "${extra[@]}"; do
	if [ $fresh = 1 ] || [ ! -f "$f" ]; then
		mkdir -p "$(dirname "$f")"
		rm -f "$f"
		truncate -s $((size * 1024 * 1024 + label)) "$f" || die "cannot create $f"
	fi
done
imgsize=$(stat -c %s "$img")

mkdir -p "$out"
rm -f "$out/rc" "$out/dmesg" "$out/guest.log" "$out/interactive" "$out/cmd"
if [ $shell = 1 ]; then
	touch "$out/interactive"
else
	# Each argument single-quoted, so the guest's sh sees them as given here.
	for arg in "$@"; do printf "'%s' " "${arg//\'/\'\\\'\'}"; done >"$out/cmd"
	echo >>"$out/cmd"
fi

# Multi-threaded TCG (one host thread per vCPU, real parallelism) only when asked
# (BTT_TCG_THREADS=multi, on QEMU 10): two suites side by side then still fit two
# cores. On QEMU 7.2 it is not safe: with one thread per vCPU, 7.2 now and then
# runs a stale translation of kernel text that another vCPU just patched
# (text_poke), and the guest dies with "Oops: int3".
# Kernel arguments every boot gets (BTT_GUEST_APPEND replaces them): acpi=noirq
# skips ~35 s of ACPI PCI-link AML under TCG (PCI interrupts come from the BIOS's
# routing table instead); no_timer_check avoids the "IO-APIC + timer doesn't
# work!" panic when a loaded host starves the guest during the timer check;
# no5lvl keeps 4-level paging: with `-cpu max` the guest has LA57, and the
# KASAN kernel then reports "wild-memory-access in do_raw_spin_lock" from an
# interrupt during identify_cpu() in about half of its boots (3 of 6 on QEMU
# 7.2; 0 of 8 with no5lvl), before any nvdimm code runs. lpj= skips the delay
# loop calibration of each CPU: under TCG it fails on every secondary CPU
# ("calibrate_delay_direct() failed to get a good estimate ... Consider using
# lpj="), falls back to counting loops between timer ticks, and the consoles of
# multi-threaded boots that hung before /init end there. The value is what the
# boot CPU derives from the TSC (its frequency in kHz times 1000 / HZ), here from
# the host's clock, which the guest's TSC follows; it only scales udelay().
hz=$(sed -n 's/^CONFIG_HZ=//p' "$kdir/.config")
tsc_mhz=$(awk -F: '/^cpu MHz/ { printf "%d", $2; exit }' /proc/cpuinfo)
lpj=$(( ${tsc_mhz:-2000} * 1000000 / ${hz:-1000} ))
default_append=${BTT_GUEST_APPEND-acpi=noirq no_timer_check no5lvl lpj=$lpj}
# Single-threaded TCG unless a suite asks for parallel vCPUs with
# BTT_TCG_THREADS=multi (on QEMU 10; -icount needs single-threaded TCG).
accel_opt=tcg,thread=${BTT_TCG_THREADS:-single}${BTT_TCG_OPTS:+,$BTT_TCG_OPTS}
# QEMU 10's -cpu max offers LA57 (see no5lvl above: 2 of 3 QEMU 10 boots showed
# the same KASAN report with it, none of 5 with la57=off). BTT_QEMU_CPU
# replaces the CPU model.
cpu_model=max
[ "$qemu_ver" = 10 ] && cpu_model=max,la57=off
cpu_model=${BTT_QEMU_CPU:-$cpu_model}
[ "${BTT_KVM:-0}" = 1 ] && accel_opt=kvm
icount=()
[ -n "${BTT_ICOUNT:-}" ] && [ "${BTT_KVM:-0}" != 1 ] && icount=(-icount "shift=$BTT_ICOUNT,sleep=off")
args=(
	"${qemu_firmware[@]}" -machine pc,nvdimm=on -accel "$accel_opt" "${icount[@]}" -cpu "$cpu_model" -smp "$cpus"
	-m "$mem,slots=$((${#extra[@]} + 4)),maxmem=${BTT_MAXMEM:-128G}"
	-kernel "$kdir/arch/x86/boot/bzImage" -initrd "$initrd"
	-append "console=ttyS0 panic=-1 loglevel=4 btt.flavour=$flavour $default_append${append:+ $append}"
	-nographic -no-reboot -nodefaults -serial mon:stdio
	-virtfs "local,path=$BTT_TOP,mount_tag=btt,security_model=none,readonly=on"
	-virtfs "local,path=$out,mount_tag=out,security_model=none"
	-device virtio-rng-pci
)
[ -n "$pidfile" ] && args+=(-pidfile "$pidfile")
# shellcheck disable=SC2206 # split on blanks on purpose
[ -n "${BTT_QEMU_EXTRA:-}" ] && args+=($BTT_QEMU_EXTRA)
if [ $virtio = 1 ]; then
	# virtio-pmem has no label area: the whole backend is the region, which must
	# stay 16 MiB aligned.
	args+=(-object "memory-backend-file,id=vp1,share=on,mem-path=$img,size=$((imgsize / (16 << 20) * (16 << 20)))"
		-device "virtio-pmem-pci,memdev=vp1,id=vpmem1")
else
	args+=(-object "memory-backend-file,id=m1,share=on,mem-path=$img,size=$imgsize"
		-device "nvdimm,id=nv1,memdev=m1,label-size=128K")
	n=2
	for f in "${extra[@]}"; do
		args+=(-object "memory-backend-file,id=m$n,share=on,mem-path=$f,size=$(stat -c %s "$f")"
			-device "nvdimm,id=nv$n,memdev=m$n,label-size=128K")
		n=$((n + 1))
	done
fi

console=$out/console.log
if [ $shell = 1 ]; then
	"$qemu" "${args[@]}"
	exit 0
fi
set +e
hung=0
if [ $quiet = 1 ]; then
	# A guest that has not reached /init within the boot deadline is stuck in
	# the kernel's boot: seen now and then on multi-threaded TCG, every vCPU
	# thread busy and nothing on the console, on otherwise idle hosts too. It
	# is killed then rather than at the suite's timeout, and reported as a
	# boot hang (exit 125) so that a caller can tell it from a failed test.
	deadline=${BTT_BOOT_DEADLINE:-300}
	# Made here: the loop below may look before the background shell opens it.
	: >"$console"
	timeout -s KILL "$timeout" "$qemu" "${args[@]}" </dev/null >"$console" 2>&1 &
	qpid=$!
	t0=$SECONDS
	while kill -0 "$qpid" 2>/dev/null && ! grep -q -a BTT-GUEST-BEGIN "$console"; do
		if [ $((SECONDS - t0)) -ge "$deadline" ]; then
			hung=1
			pkill -KILL -P "$qpid"
			break
		fi
		sleep 2
	done
	wait "$qpid"
	qrc=$?
else
	timeout -s KILL "$timeout" "$qemu" "${args[@]}" </dev/null 2>&1 | tee "$console"
	qrc=${PIPESTATUS[0]}
fi
set -e
if [ $hung = 1 ]; then
	tail -5 "$console" >&2
	log "guest did not reach /init within ${deadline}s: boot hang, killed (console: $console)"
	exit 125
fi
if [ ! -f "$out/rc" ]; then
	tail -25 "$console" >&2
	[ "$qrc" = 137 ] && die "guest timed out after ${timeout}s (console: $console)"
	die "guest stopped without a result (QEMU exit $qrc; console: $console)"
fi
exit "$(cat "$out/rc")"
