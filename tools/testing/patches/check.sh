#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Checks the patch series of scripts/make-patches.sh (build/patches/) against
# the cached Linux 7.3 tree, and prints KTAP:
#   - the series applies to a fresh copy of the source tree;
#   - scripts/checkpatch.pl --strict on each patch, and on the C driver's
#     fixes in scripts/patches/nd_btt/: 0 errors (warnings and checks are
#     listed, not failed);
#   - the patched tree builds in-tree with CLIPPY=1: the kernel crate (and
#     vmlinux) and drivers/nvdimm/btt_rs.ko, with CONFIG_LIBNVDIMM=y,
#     CONFIG_ND_BTT_RUST=m, and no warning from the files the series adds.
#
# The build reuses the cached debug kernel: copies of its source and object
# trees are bind-mounted over the cached paths in a private mount namespace
# (unshare -m), so every command line, which names the trees by absolute
# path, stays the same and only what the series changes is rebuilt. The
# cached trees themselves are only read.
#
# Usage: tools/testing/patches/check.sh [--no-generate] [--keep]
. "$(dirname "$0")/../../../scripts/lib.sh"

generate=1 keep=0
for a in "$@"; do
	case $a in
	--no-generate) generate=0 ;;
	--keep) keep=1 ;;
	*) die "unknown argument $a" ;;
	esac
done

ksrc=$(kernel_src_dir)
kobj=${BTT_PATCHES_KDIR:-$("$BTT_TOP/scripts/build-kernel.sh" debug)} || die "no debug kernel"
rsrc=$(rust_src_dir)
patches=$BTT_TOP/build/patches
res=$BTT_TOP/build/test-results/patches
mkdir -p "$res"
work=$BTT_TOP/build/patches-check
t0=$SECONDS
step_t=$SECONDS
# lap: sets $lap to the seconds since the previous lap (not in a $(...) subshell,
# which would lose step_t).
lap() { lap=$((SECONDS - step_t))s; step_t=$SECONDS; }

if [ "$generate" = 1 ]; then
	"$BTT_TOP/scripts/make-patches.sh" "$patches" >/dev/null
fi
mapfile -t series < <(ls "$patches"/0*.patch | grep -v '/0000-')
[ "${#series[@]}" -gt 0 ] || die "no patches in $patches"

# The C driver's fixes (scripts/patches/nd_btt/, applied and built by
# scripts/build-nd-btt.sh --fixed in the zero-flag suite): checkpatch too.
fixes=("$BTT_TOP"/scripts/patches/nd_btt/*.patch)
[ -f "${fixes[0]}" ] || fixes=()
total=$((1 + ${#series[@]} + ${#fixes[@]} + 3))
echo "TAP version 13"
echo "1..$total"
tn=0 failed=0
point() { # ok|not-ok description [diagnostics file]
	tn=$((tn + 1))
	if [ "$1" = ok ]; then echo "ok $tn $2"; else echo "not ok $tn $2"; failed=$((failed + 1)); fi
}

# 1: apply to a fresh copy of the source tree.
log "copying the source tree"
rm -rf "$work"
mkdir -p "$work"
cp -a "$ksrc" "$work/src"
applied=1
for p in "${series[@]}"; do
	# patch(1), not git apply: inside this repository's work tree git apply
	# would take the copy for a subdirectory and skip every path outside it.
	if ! patch -p1 --forward --batch --no-backup-if-mismatch -d "$work/src" -i "$p" >"$res/apply.log" 2>&1; then
		echo "# $(basename "$p") does not apply:"; sed 's/^/# /' "$res/apply.log"
		applied=0
		break
	fi
done
if [ "$applied" = 1 ] && ! [ -f "$work/src/drivers/nvdimm/btt_rs/btt_rs.rs" ]; then
	echo "# the series applied but drivers/nvdimm/btt_rs/btt_rs.rs is missing"
	applied=0
fi
lap
if [ "$applied" = 1 ]; then point ok "series applies (${#series[@]} patches, copy and apply $lap)"; else point not-ok "series applies"; fi

# 2..: checkpatch --strict per patch, run from the pristine tree.
for p in "${series[@]}" "${fixes[@]}"; do
	name=$(basename "$p" .patch)
	case $p in */nd_btt/*) name=nd_btt/$name ;; esac
	out=$res/checkpatch-${name//\//-}.txt
	perl "$ksrc/scripts/checkpatch.pl" --strict --no-color --root="$ksrc" "$p" >"$out" 2>"$out.stderr" || true
	sum=$(grep -E '^total: ' "$out" | tail -1)
	errs=$(sed -nE 's/^total: ([0-9]+) errors.*/\1/p' "$out" | tail -1)
	{ grep -E '^(ERROR|WARNING|CHECK):' "$out" || true; } | sort | uniq -c | sed 's/^/# /'
	if grep -q "No module named 'ply'" "$out.stderr"; then echo "# (checkpatch's SPDX check did not run: python3 has no ply module)"; fi
	if [ "${errs:-1}" = 0 ]; then point ok "checkpatch $name: $sum"; else point not-ok "checkpatch $name: ${sum:-no result}"; fi
done
lap
log "checkpatch done ($lap)"

# The in-tree build, in a private mount namespace.
log "copying the object tree"
cp -a "$kobj" "$work/obj"
lap
log "object tree copied ($lap)"
blog=$res/build.log
build_rc=0
if [ "$applied" = 1 ]; then
	unshare --mount --propagation private bash -euo pipefail -c '
		src=$1 obj=$2 ksrc=$3 kobj=$4 llvm=$5 rsrc=$6 ko=$7
		mount --bind "$src" "$ksrc"
		mount --bind "$obj" "$kobj"
		cd "$kobj"
		m() { nice -n 10 make -C "$ksrc" O="$kobj" LLVM="$llvm" RUST_LIB_SRC="$rsrc" CLIPPY=1 -j2 "$@"; }
		"$ksrc"/scripts/config --file .config --enable LIBNVDIMM --disable ND_BTT --module ND_BTT_RUST
		m olddefconfig
		grep -E "^CONFIG_(LIBNVDIMM|ND_BTT|ND_BTT_RUST|BLK_DEV_PMEM|RUST)=" .config
		grep -q "^CONFIG_ND_BTT_RUST=m" .config || { echo "CONFIG_ND_BTT_RUST did not survive olddefconfig"; exit 1; }
		s=$SECONDS; m vmlinux; echo "# vmlinux: $((SECONDS - s))s"
		s=$SECONDS; m drivers/nvdimm/btt_rs.ko; echo "# btt_rs.ko: $((SECONDS - s))s"
		cp drivers/nvdimm/btt_rs.ko "$ko"
	' _ "$work/src" "$work/obj" "$ksrc" "$kobj" "$LLVM_SUFFIX" "$rsrc" "$work/btt_rs.ko" >"$blog" 2>&1 || build_rc=$?
fi
lap
btime=$lap
if [ "$build_rc" = 0 ] && [ "$applied" = 1 ]; then
	point ok "in-tree build with CLIPPY=1 (vmlinux, drivers/nvdimm/btt_rs.ko): $btime"
else
	grep -E -B2 -A12 'error(\[E[0-9]+\])?:|Error [0-9]|undefined' "$blog" | head -60 | sed 's/^/# /'
	tail -5 "$blog" | sed 's/^/# /'
	point not-ok "in-tree build with CLIPPY=1 (log: $blog)"
fi
if [ -s "$work/btt_rs.ko" ]; then
	point ok "btt_rs.ko built ($(stat -c %s "$work/btt_rs.ko") bytes)"
else
	point not-ok "btt_rs.ko built"
fi
# Warnings from the files the series adds or changes.
new_files=$(cat "${series[@]}" | sed -n 's|^+++ b/||p' | sort -u | sed 's/[.]/[.]/g' | paste -sd'|')
nw=$(grep -cE "warning" "$blog" || true)
mine=$(grep -E -A6 "^(warning|error)" "$blog" | grep -E -- "--> ($new_files)" || true)
mine+=$(grep -E "($new_files):[0-9]+:[0-9]+: warning" "$blog" || true)
if [ -z "$mine" ] && [ "$build_rc" = 0 ]; then
	point ok "no warnings from the series' files ($nw warning lines in the whole build)"
else
	echo "$mine" | head -20 | sed 's/^/# /'
	point not-ok "no warnings from the series' files"
fi
echo "# total $((SECONDS - t0))s"
if [ "$keep" = 0 ]; then rm -rf "$work"; fi
[ "$failed" = 0 ]
