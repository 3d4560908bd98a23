#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Where a guest I/O spends its instructions: boots the plain kernel under icount,
# runs N O_DIRECT I/Os with tools/testing/bench/iol in MODE (raw, c, rs, rs1),
# logs every translated block QEMU executes between iol's two markers, and
# prints guest instructions per I/O, in all and per kernel or module symbol.
# Not a benchmark (make bench is): a profile, to see what to cut.
#
# Usage: scripts/profile.sh MODE SECTOR_SIZE RW BS N     e.g. rs 4096 randwrite 4096 3000
# QEMU runs one guest instruction per translated block (one-insn-per-tb), so
# each logged block execution is one instruction (a rep-prefixed one counts
# once per iteration, as icount does): exact counts. About 1.5 minutes for
# 1000 4 KiB writes.
# Environment: PROFILE_OUT (build/profile/MODE-SS-RW-BS), PROFILE_KO (the btt_rs.ko
# to load, default build/plain/btt_rs.ko). Compare two profiles with
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
python3 "$py" watch "$out" "$sock" exec,nochain &
watcher=$!
trap 'kill $watcher 2>/dev/null || true' EXIT
log "profile: $mode, $ss-byte sectors, $rw $bs x $n (QEMU log in $out/qemu.log)"
BTT_ICOUNT=0 BTT_TCG_OPTS=one-insn-per-tb=on BTT_QEMU_EXTRA="-monitor unix:$sock,server,nowait -D $out/qemu.log -d nochain" \
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour plain --out "$out" --fresh --img "$out/nvdimm.img" \
	--timeout 3600 -- env BTT_RS_KO=/out/btt_rs.ko sh tools/testing/bench/profile.guest.sh \
	"$mode" "$ss" "$rw" "$bs" "$n" || die "profile boot failed (see $out/console.log)"
rm -f "$out/nvdimm.img"
python3 "$py" analyze "$out/qemu.log" "$out/kallsyms" "$n" \
	"$out/profile.json" | tee "$out/profile.txt"
rm -f "$out/qemu.log"
