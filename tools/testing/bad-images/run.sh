#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Bad images: BTTs damaged on purpose from the host (corrupt.py), then attached in
# the guest by each BTT driver in turn, all cases in one boot per driver (one
# NVDIMM per case). For every case: no panic or splat, the image is not written
# (hash before and after), and what the driver did (refused, attached, data).
# KTAP test points are asserted for btt_rs; the C driver's outcome is printed
# beside it as diagnostics.
# Usage: run.sh [--drivers "c rs"] [--out DIR]
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
mapfile -t cases < <(python3 "$here/corrupt.py" --list | cut -f1)
rm -rf "$out"
mkdir -p "$out/pristine"

# 1. One good namespace per NVDIMM, made by the C driver.
imgs=()
for c in "${cases[@]}"; do imgs+=("$out/pristine/$c.img"); done
extra=()
for i in "${imgs[@]:1}"; do extra+=(--extra-nvdimm "$i"); done
"$BTT_TOP/scripts/qemu-run.sh" --quiet --fresh --size 32 --img "${imgs[0]}" "${extra[@]}" \
	--out "$out/create" -- sh tools/testing/bad-images/create.guest.sh ||
	die "creating the images failed (see $out/create/console.log)"

# 2. Damage each image its own way; remember its namespace uuid and hash.
declare -A uuid_of case_of
for c in "${cases[@]}"; do
	u=$(python3 "$here/corrupt.py" "$out/pristine/$c.img" --uuid) || die "no BTT in image for $c"
	python3 "$here/corrupt.py" "$out/pristine/$c.img" "$c"
	uuid_of[$c]=$u
	case_of[$u]=$c
done

echo "TAP version 13"
nrs=0
case " $drivers " in *" rs "*) nrs=$(( ${#cases[@]} * 3 + 1 )) ;; esac
echo "1..$nrs"
n=0
point() { # ok|not-ok text
	n=$((n + 1))
	if [ "$1" = ok ]; then echo "ok $n $2"; else echo "not ok $n $2"; fi
}
for drv in $drivers; do
	run=$out/$drv
	mkdir -p "$run"
	cp "$out"/create/data-* "$run/" 2>/dev/null
	work=()
	for c in "${cases[@]}"; do cp --sparse=always "$out/pristine/$c.img" "$run/$c.img"; work+=("$run/$c.img"); done
	before=$(cd "$run" && sha256sum *.img)
	extra=()
	for i in "${work[@]:1}"; do extra+=(--extra-nvdimm "$i"); done
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --img "${work[0]}" "${extra[@]}" --out "$run" \
		-- sh tools/testing/bad-images/probe.guest.sh "$drv"
	rc=$?
	after=$(cd "$run" && sha256sum *.img)
	splats=$(sed -n 's/^SPLATS //p' "$run/guest.log" 2>/dev/null)
	echo "# ---- $drv driver (guest exit $rc, splats ${splats:-?}) ----"
	sed -n 's/^KMSG /#   kmsg: /p' "$run/guest.log" 2>/dev/null | head -30
	for c in "${cases[@]}"; do
		u=${uuid_of[$c]}
		line=$(grep "^OUTCOME $u " "$run/guest.log" 2>/dev/null)
		read -r _ _ mode dev data <<<"$line"
		changed=no
		[ "$(grep " $c.img$" <<<"$before")" = "$(grep " $c.img$" <<<"$after")" ] || changed=yes
		echo "# $drv $c: mode=${mode:-none} dev=${dev:--} data=${data:--} image-written=$changed"
		[ "$drv" = rs ] || continue
		# btt_rs: never writes a damaged image, never exposes wrong data, and
		# serves the one case whose damage is only in the backup info block.
		[ "$changed" = no ] && point ok "rs $c: image not written" || point not-ok "rs $c: image not written"
		[ "$data" != differs ] && point ok "rs $c: no wrong data served" || point not-ok "rs $c: no wrong data served"
		case $c in
		info2-bad) want=intact ;;
		info-checksum) want=- ;; # libnvdimm sees no BTT: a raw namespace, the driver is never called
		*) want=- ;;
		esac
		[ "${data:--}" = "$want" ] && point ok "rs $c: outcome '$want'" || point not-ok "rs $c: outcome '${data:--}', want '$want'"
	done
	if [ "$drv" = rs ]; then
		[ "$rc" = 0 ] && [ "${splats:-1}" = 0 ] && point ok "rs: guest clean (no panic, no splat)" ||
			point not-ok "rs: guest clean (exit $rc, splats ${splats:-?})"
	fi
done
