#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Guest fuzz suite: seeded mutations of a BTT image (mutate.py: info-block fields
# with the checksum kept valid and broken, both info blocks, flog entries and
# padding, map entries and flag bits, random bytes anywhere in the metadata),
# each attached by btt_rs in a debug (KASAN, lockdep, UBSAN) guest, which reads
# every sector served, writes 3 if writable and detaches. Many images per boot:
# the NVDIMM's backing file is mapped shared into the guest, so the host
# (host.py serve) rewrites it in place between two images while the guest has
# region0 disabled, then checks what the guest left: a refused (or read-only)
# image byte for byte unchanged, a writable one passing `btt check` (no problem
# it did not have before) with the sectors written readable by `btt read`, no
# splat. The patches in regressions/ (every mutation that ever failed) are
# replayed first in every run; a failing mutation is copied there.
# Prints KTAP (one test point per image, one for the boots) and ends with
# "# fuzz: N images, refused A, read-only B, writable C, splats S, writes to refused W".
# Exit status 0 only if every test point passed.
# Usage: run.sh [--seed N] [--count M] [--batch B] [--out DIR] [--no-regressions]
# BTT_FLAVOUR: guest kernel flavour (default debug; make test runs it on kasan).
#   --count: mutated images (default 30) besides the regression cases;
#   --batch: images per guest boot (default 500; boots run one after another).
. "$(dirname "$0")/../../../scripts/lib.sh"
set +e
here=$BTT_TOP/tools/testing/fuzz-guest
seed=1 count=30 batch=500 out=$BTT_TOP/build/fuzz-guest regress=1
while [ $# -gt 0 ]; do
	case $1 in
	--seed) seed=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--batch) batch=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-regressions) regress=0; shift ;;
	*) die "unknown option $1" ;;
	esac
done
# The rest is one compound command, parsed before it runs: editing this file
# during a run (bash reads scripts as it goes) cannot break the run.
{
f=${BTT_FLAVOUR:-debug}
[ -f "$BTT_TOP/build/$f/btt_rs.ko" ] || "$BTT_TOP/scripts/build-module.sh" "$f" >/dev/null ||
	die "no build/$f/btt_rs.ko and building it failed"
(cd "$BTT_TOP/rust" && cargo build -q -p btt_tool) >&2 || die "building the btt tool failed"
btt=$BTT_TOP/rust/target/debug/btt
rm -rf "$out"
mkdir -p "$out/patches"
t0=$(date +%s)

# The pristine image: a label-less 32 MiB namespace, a BTT 1.1 at 4096 (4 KiB
# sectors) made by the btt tool, some sectors written (some twice) so the map
# and the flog hold more than their initial values.
mib=32
nsbytes=$((mib * 1024 * 1024)) size=$((mib * 1024 * 1024 - 4096))
pristine=$out/pristine.img
truncate -s $((nsbytes + 131072)) "$pristine"
"$btt" create "$pristine" --size $size --offset 4096 --lbasize 4096 --version 1.1 >/dev/null ||
	die "btt create failed"
k=0
for lba in 0 1 2 3 5 8 13 21 100 1000 2000 7000 7919 1 1 2 13; do
	k=$((k + 1))
	python3 "$here/mutate.py" sector $lba $k 4096 | "$btt" write "$pristine" $lba --offset 4096 --size $size ||
		die "btt write $lba failed"
done
# A fixed uuid: the same pristine image on every run, so a saved patch replays exactly.
python3 "$here/mutate.py" normalise "$pristine" || die "mutate.py normalise failed"
"$btt" check "$pristine" --offset 4096 --size $size >/dev/null || die "the pristine image is not clean"
psum=$(sha256sum <"$pristine" | cut -c1-16)

# Regression cases first, then the seeded mutations.
: >"$out/all.list"
if [ $regress = 1 ]; then
	ls "$here"/regressions/*.patch 2>/dev/null | sort >>"$out/all.list"
fi
nreg=$(wc -l <"$out/all.list")
while read -r p; do
	grep -q "^# pristine: $psum" "$p" ||
		log "warning: $(basename "$p") was made against another pristine image (not $psum): it may not replay exactly"
done <"$out/all.list"
python3 "$here/mutate.py" gen "$pristine" --seed "$seed" --count "$count" --dir "$out/patches" ||
	die "mutate.py gen failed"
ls "$out"/patches/*.patch | sort >>"$out/all.list"
total=$(wc -l <"$out/all.list")
log "fuzz-guest: seed $seed, $count mutations + $nreg regression cases, $batch per boot, pristine image sha256 $psum ($(($(date +%s) - t0)) s to prepare)"

: >"$out/results.jsonl"
boots=()
b=0
while [ $((b * batch)) -lt "$total" ]; do
	b=$((b + 1))
	run=$out/boot$b
	mkdir -p "$run/fz"
	sed -n "$(((b - 1) * batch + 1)),$((b * batch))p" "$out/all.list" >"$run/list"
	n=$(wc -l <"$run/list")
	img=$out/live.img
	cp --sparse=always "$pristine" "$img"
	t1=$(date +%s)
	python3 "$here/host.py" serve --out "$run" --img "$img" --pristine "$pristine" --patches "$run/list" \
		--btt "$btt" --results "$out/results.jsonl" --qemu-done "$run/qemu.done" \
		--size $size --nsbytes $nsbytes >"$run/host.log" 2>&1 &
	hostpid=$!
	# Boot plus about 10 s an image on a busy 2-core host, generously.
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --img "$img" --out "$run" --timeout $((600 + n * 30)) \
		-- sh tools/testing/fuzz-guest/probe.guest.sh >"$run/qemu-run.out" 2>&1
	rc=$?
	touch "$run/qemu.done"
	wait $hostpid
	sp=$(sed -n 's/^SPLATS //p' "$run/guest.log" 2>/dev/null)
	boots+=(--boot "boot$b:$rc:${sp:-?}:$n")
	log "fuzz-guest: boot $b: $n images in $(($(date +%s) - t1)) s (exit $rc, splats ${sp:-?})"
	if [ "$rc" != 0 ] || [ "${sp:-?}" != 0 ]; then
		tail -5 "$run/qemu-run.out" >&2
		grep -E "$(sed -n "s/^DMESG_BAD='\(.*\)'$/\1/p" "$BTT_TOP/tools/testing/guest/lib.sh")" "$run/dmesg" 2>/dev/null |
			head -5 | sed 's/^/  dmesg: /' >&2
	fi
done
python3 "$here/host.py" report --results "$out/results.jsonl" --regressions "$here/regressions" "${boots[@]}"
rc=$?
echo "# fuzz-guest: seed $seed, $total images in $b boot(s), $(($(date +%s) - t0)) s"
exit $rc
}
