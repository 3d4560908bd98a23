#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Bad images: BTTs damaged on purpose from the host (corrupt.py), then attached in
# the guest by each BTT driver in turn, all cases in one boot per driver (one
# NVDIMM, so one region, per case; the guest enables the regions one at a time,
# so every kernel line is attributed to its case). For every case and driver:
# the namespace's mode, the BTT device and block device, whether the data
# written at creation reads back intact, wrong, or not at all (refused / raw),
# what the kernel said, splats, and whether the image was written (host-side
# hash before and after).
#
# KTAP test points are asserted for btt_rs only (no image written, no wrong
# data, no splat, the expected outcome per case); the C driver's outcome is
# printed beside it in a table at the end, as diagnostics.
# Exit status 0 only if every btt_rs test point passed.
# Usage: run.sh [--drivers "c rs"] [--out DIR]   (BTT_FLAVOUR: guest kernel flavour, default debug)
. "$(dirname "$0")/../../../scripts/lib.sh"
set +e
here=$BTT_TOP/tools/testing/bad-images
drivers="c rs" out=$BTT_TOP/build/bad-images
while [ $# -gt 0 ]; do
	case $1 in
	--drivers) drivers=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	*) die "unknown option $1" ;;
	esac
done
case " $drivers " in *" rs "*)
	f=${BTT_FLAVOUR:-debug}
	[ -f "$BTT_TOP/build/$f/btt_rs.ko" ] || "$BTT_TOP/scripts/build-module.sh" "$f" >/dev/null ||
		die "no build/$f/btt_rs.ko and building it failed" ;;
esac
mapfile -t cases < <(python3 "$here/corrupt.py" --list | cut -f1)
declare -A what
while IFS=$'\t' read -r c d; do what[$c]=$d; done < <(python3 "$here/corrupt.py" --list)
rm -rf "$out"
mkdir -p "$out/pristine"
t0=$(date +%s)

# 1. One good namespace per NVDIMM, made by the C driver, 64 sectors of data each.
imgs=()
for c in "${cases[@]}"; do imgs+=("$out/pristine/$c.img"); done
extra=()
for i in "${imgs[@]:1}"; do extra+=(--extra-nvdimm "$i"); done
"$BTT_TOP/scripts/qemu-run.sh" --quiet --fresh --size 32 --img "${imgs[0]}" "${extra[@]}" \
	--out "$out/create" -- sh tools/testing/bad-images/create.guest.sh ||
	die "creating the images failed (see $out/create/console.log)"

# 2. Damage each image its own way; its namespace uuid (the info block's parent
# uuid) names its reference data.
declare -A uuid_of
for c in "${cases[@]}"; do
	u=$(python3 "$here/corrupt.py" "$out/pristine/$c.img" --uuid) || die "no BTT in image for $c"
	[ -f "$out/create/data-$u" ] || die "$c: namespace $u has no reference data from the create boot"
	python3 "$here/corrupt.py" "$out/pristine/$c.img" "$c" || die "corrupting $c failed"
	uuid_of[$c]=$u
done
log "bad images: created and damaged in $(($(date +%s) - t0)) s"

# Expected btt_rs outcome per case: intact data on a writable disk (a damaged
# backup info block, which the primary outranks; a damaged stale flog slot, which
# is never read and is the next write's to overwrite); intact-ro,
# intact data on a read-only disk with a btt_rs line naming the damaged field (a
# damaged flog: the map is sound, so the data is served, but no write could be
# placed safely); raw (libnvdimm's own probe sees no BTT, so no BTT device is made
# and btt_rs is never called); or refused with a "cannot attach" line naming the
# damaged field (the map or the info block: no sector could be trusted).
expect_of() {
	case $1 in
	info2-bad | flog-stale-range) echo intact ;;
	info-checksum | version) echo raw ;;
	nlba-too-large) echo 'refused:external_nlba' ;;
	mapoff-outside) echo 'refused:mapoff' ;;
	nfree-zero) echo 'refused:nfree' ;;
	flog-range) echo 'intact-ro:flog new_map' ;;
	map-duplicate) echo 'refused:map entry' ;;
	*) echo unknown ;;
	esac
}

# 3. One boot per driver over fresh copies of the damaged images, the boots side
# by side (each QEMU is one TCG thread).
declare -A res said rc_of splats_of before_of
for drv in $drivers; do
	run=$out/$drv
	mkdir -p "$run"
	cp "$out"/create/data-* "$run/"
	work=()
	for c in "${cases[@]}"; do cp --sparse=always "$out/pristine/$c.img" "$run/$c.img"; work+=("$run/$c.img"); done
	before_of[$drv]=$(cd "$run" && sha256sum -- *.img)
	extra=()
	for i in "${work[@]:1}"; do extra+=(--extra-nvdimm "$i"); done
	(
		t1=$(date +%s)
		"$BTT_TOP/scripts/qemu-run.sh" --quiet --img "${work[0]}" "${extra[@]}" --out "$run" --timeout 600 \
			-- sh tools/testing/bad-images/probe.guest.sh "$drv" ${#cases[@]}
		echo $? >"$run/qemu-run.rc"
		log "bad images: $drv boot took $(($(date +%s) - t1)) s (exit $(cat "$run/qemu-run.rc"))"
	) &
done
wait
for drv in $drivers; do
	run=$out/$drv
	rc_of[$drv]=$(cat "$run/qemu-run.rc" 2>/dev/null || echo none)
	before=${before_of[$drv]}
	after=$(cd "$run" && sha256sum -- *.img)
	splats_of[$drv]=$(sed -n 's/^SPLATS //p' "$run/guest.log" 2>/dev/null)
	for c in "${cases[@]}"; do
		u=${uuid_of[$c]}
		line=$(grep "^OUTCOME $u " "$run/guest.log" 2>/dev/null | head -1)
		# mode holder driver dev capacity data splats btt-lines ro written
		set -- $line
		written=no
		[ "$(grep " $c.img$" <<<"$before")" = "$(grep " $c.img$" <<<"$after")" ] || written=yes
		if [ -n "$line" ]; then
			res[$drv:$c]="$3 $4 $5 $6 $7 $8 $9 ${10} ${11:--} $written"
		else
			res[$drv:$c]="absent - - - - absent - 0 - $written" # no namespace with that uuid
		fi
		grep "^KMSG $u " "$run/guest.log" 2>/dev/null | cut -d' ' -f3- >"$run/kmsg-$c.txt"
		# What the driver said: btt_rs's own line, else the first line naming a
		# BTT, namespace or pmem device (splat bodies left out).
		s=$(grep -m1 -E ' btt[0-9]+\.[0-9]+: (cannot attach|arena [0-9]+:)' "$run/kmsg-$c.txt")
		[ -n "$s" ] || s=$(grep -E 'btt[0-9]+\.[0-9]+|namespace[0-9]+\.[0-9]+|nd_btt|WARNING' "$run/kmsg-$c.txt" |
			grep -vE 'Modules linked|^\[[ 0-9.]+\]  ' | head -2 | paste -sd'|')
		s=$(sed -E 's/\[ *[0-9]+\.[0-9]+\] //g' <<<"$s")
		said[$drv:$c]=${s:--}
	done
done

# 4. KTAP for btt_rs.
echo "TAP version 13"
nrs=0
case " $drivers " in *" rs "*) nrs=$((${#cases[@]} * 4 + 1)) ;; esac
echo "1..$nrs"
n=0
nfail=0
point() { # ok|not-ok text
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n $2"; else echo "not ok $n $2"; nfail=$((nfail + 1)); fi
}
check() { # text condition...
	local t=$1
	shift
	if "$@"; then point ok "$t"; else point not-ok "$t"; fi
}
if [ "$nrs" != 0 ]; then
	for c in "${cases[@]}"; do
		read -r mode holder bdrv dev cap data splats rsl ro written <<<"${res[rs:$c]}"
		want=$(expect_of "$c")
		[ "$splats" = 0 ] || grep -E 'WARNING|BUG|Call Trace|lock|INFO' "$out/rs/kmsg-$c.txt" | head -3 | sed "s/^/# rs $c: /"
		check "rs $c: image not written" [ "$written" = no ]
		check "rs $c: no wrong data served (data: $data)" [ "${data%%:*}" != wrong ]
		check "rs $c: no splat while probing, serving and detaching it ($splats)" [ "$splats" = 0 ]
		case $want in
		intact) ok=0; [ "$data" = intact ] && [ "$ro" = 0 ] && ok=1 ;;
		intact-ro:*) ok=0; [ "$data" = intact ] && [ "$ro" = 1 ] &&
			grep -qE "btt[0-9]+\.[0-9]+: arena [0-9]+: .*${want#intact-ro:}.*read-only" "$out/rs/kmsg-$c.txt" && ok=1 ;;
		raw) ok=0; [ "$data" = raw ] && [ "$holder" = - ] && [ "$rsl" = 0 ] && ok=1 ;;
		refused:*) ok=0; [ "$data" = refused ] && grep -qE "btt[0-9]+\.[0-9]+: cannot attach: .*${want#refused:}" "$out/rs/kmsg-$c.txt" && ok=1 ;;
		*) ok=0 ;;
		esac
		if [ $ok = 1 ]; then point ok "rs $c: outcome $want"; else
			echo "# rs $c: mode=$mode holder=$holder driver=$bdrv dev=$dev ro=$ro data=$data btt-lines=$rsl; kernel: ${said[rs:$c]}"
			point not-ok "rs $c: outcome $want"
		fi
	done
	if [ "${rc_of[rs]}" != 0 ] || [ "${splats_of[rs]:-1}" != 0 ]; then
		grep -E "$(sed -n "s/^DMESG_BAD='\(.*\)'$/\1/p" "$BTT_TOP/tools/testing/guest/lib.sh")" "$out/rs/dmesg" 2>/dev/null |
			head -5 | sed 's/^/# rs dmesg: /'
		tail -3 "$out/rs/console.log" 2>/dev/null | sed 's/^/# rs console: /'
	fi
	check "rs: guest clean (exit ${rc_of[rs]}, splats in the whole boot ${splats_of[rs]:-?})" \
		test "${rc_of[rs]}" = 0 -a "${splats_of[rs]:-1}" = 0
fi

# 5. Side by side.
mib() { [ "$1" = - ] && echo - || echo $(($1 / 2048)); }
echo "# bad images, side by side ($(($(date +%s) - t0)) s; per-case kernel lines in $out/<driver>/kmsg-<case>.txt)"
echo "#   data: intact / wrong:N/64 = the 64 sectors written at creation; refused = a BTT claims the"
echo "#   namespace, no block device; raw = libnvdimm found no BTT (no BTT device, the BTT driver never called)"
for c in "${cases[@]}"; do
	echo "# $c: ${what[$c]}"
	for drv in $drivers; do
		read -r mode holder bdrv dev cap data splats rsl ro written <<<"${res[$drv:$c]}"
		printf '#   %-2s mode=%-4s btt=%-7s dev=%-7s MiB=%-7s ro=%s data=%-10s splats=%s written=%s\n' \
			"$drv" "$mode" "$holder" "$dev" "$(mib "$cap")" "$ro" "$data" "$splats" "$written"
		printf '#      kernel: %s\n' "${said[$drv:$c]}"
	done
done
for drv in $drivers; do echo "# $drv boot: exit ${rc_of[$drv]}, splats ${splats_of[$drv]:-?}"; done
[ "$nfail" = 0 ]
