#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where a guest I/O spends its instructions: boots the plain kernel under icount,
# runs N O_DIRECT I/Os with tools/testing/bench/iol in MODE (raw, c, rs, rs1),
# logs every translated block QEMU executes between iol's two markers, and
# prints guest instructions per I/O, in all and per kernel or module symbol.
# Not a benchmark (make bench is): a profile, to see what to cut.
#
# Usage: scripts/profile.sh MODE SECTOR_SIZE RW BS N     e.g. rs 4096 randwrite 4096 3000
# Environment: PROFILE_OUT (build/profile/MODE-SS-RW-BS), PROFILE_KO (the btt_rs.ko
# to load, default build/plain/btt_rs.ko), PROFILE_ONE_INSN=1 (QEMU runs one
# instruction per translated block: exact counts, slower; default: block
# lengths from the translation log, which can be off by a few percent when
# QEMU retranslates a block). Compare two profiles with
# tools/testing/bench/profile.py diff A/profile.json B/profile.json.
. "$(dirname "$0")/lib.sh"

[ $# -eq 5 ] || die "usage: scripts/profile.sh raw|c|rs|rs1 SECTOR_SIZE RW BS N"
mode=$1 ss=$2 rw=$3 bs=$4 n=$5
"$BTT_TOP/scripts/toolchain.sh"
"$BTT_TOP/scripts/build-kernel.sh" plain >/dev/null
ko=${PROFILE_KO:-}
if [ -z "$ko" ] && [ "$mode" != raw ] && [ "$mode" != c ]; then
	"$BTT_TOP/scripts/build-module.sh" plain >/dev/null || die "building btt_rs.ko (plain) failed"
	ko=$BTT_TOP/build/plain/btt_rs.ko
fi
mkdir -p "$BTT_TOP/build/profile"
gcc -O2 -static -Wl,--section-start=.marker=0x13370000 -o "$BTT_TOP/build/profile/iol" \
	"$BTT_TOP/tools/testing/bench/iol.c" || die "building iol failed"
out=${PROFILE_OUT:-$BTT_TOP/build/profile/$mode-$ss-$rw-$bs}
rm -rf "$out"
mkdir -p "$out"
[ -n "$ko" ] && cp "$ko" "$out/btt_rs.ko"
sock=$out/monitor.sock
py=$BTT_TOP/tools/testing/bench/profile.py
if [ "${PROFILE_ONE_INSN:-0}" = 1 ]; then
	boot_log="-d nochain" exec_log="exec,nochain"
	export BTT_TCG_OPTS=one-insn-per-tb=on
else
	boot_log="-d in_asm,nochain" exec_log="in_asm,exec,nochain"
fi
python3 "$py" watch "$out" "$sock" "$exec_log" &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT
log "profile: $mode, $ss-byte sectors, $rw $bs x $n (QEMU log in $out/qemu.log)"
BTT_ICOUNT=0 BTT_QEMU_EXTRA="-monitor unix:$sock,server,nowait -D $out/qemu.log $boot_log" \
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour plain --out "$out" --fresh --img "$out/nvdimm.img" \
	--timeout 3600 -- env BTT_RS_KO=/out/btt_rs.ko sh tools/testing/bench/profile.guest.sh \
	"$mode" "$ss" "$rw" "$bs" "$n" || die "profile boot failed (see $out/console.log)"
rm -f "$out/nvdimm.img"
PROFILE_ONE_INSN=${PROFILE_ONE_INSN:-0} python3 "$py" analyze "$out/qemu.log" "$out/kallsyms" "$n" \
	"$out/profile.json" | tee "$out/profile.txt"
rm -f "$out/qemu.log"
