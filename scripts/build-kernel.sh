#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Builds the guest kernel out of tree, cached under $BTT_CACHE/kernel/ and keyed by
# kernel version, config fragments, rustc and clang versions. A cache hit skips the
# build entirely. Prints the build directory (KDIR) on stdout.
#
# Usage: scripts/build-kernel.sh [debug|kasan|plain]
#   debug: lockdep and the other lock, sleep and leak checkers (most test suites)
#   kasan: debug plus KASAN and UBSAN (the suites that need them; several times slower)
#   kcsan: debug plus KCSAN (make kcsan, not make test)
#   plain: none of them (benchmarks)
. "$(dirname "$0")/lib.sh"

flavour=${1:-debug}
case $flavour in debug | kasan | kcsan | plain) ;; *) die "unknown kernel flavour '$flavour' (debug, kasan, kcsan or plain)" ;; esac

ksrc=$(kernel_src_dir)
fragments=("$BTT_TOP/scripts/kconfig/guest.config")
case $flavour in kasan | kcsan) fragments+=("$BTT_TOP/scripts/kconfig/debug.config") ;; esac
fragments+=("$BTT_TOP/scripts/kconfig/$flavour.config")
key=$( {
	basename "$ksrc"
	rustc --version
	clang$LLVM_SUFFIX --version | head -1
	cat "${fragments[@]}"
} | sha256sum | cut -c1-16)
kdir=$BTT_CACHE/kernel/$flavour-$key

if [ -f "$kdir/.built" ]; then
	echo "$kdir"
	exit 0
fi

mkdir -p "$kdir"
log "building the $flavour kernel in $kdir (cache miss; about 15 minutes on 2 cores)"
kmake() {
	make -C "$ksrc" O="$kdir" LLVM=$LLVM_SUFFIX RUST_LIB_SRC="$(rust_src_dir)" "$@"
}

kmake -s x86_64_defconfig >/dev/null
"$ksrc/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" \
	"$ksrc/kernel/configs/kvm_guest.config" "${fragments[@]}" >/dev/null
kmake -s olddefconfig >/dev/null

# Kconfig silently drops options whose dependencies are missing: check that every
# option the fragments enable survived.
lost=()
while IFS= read -r line; do
	case $line in CONFIG_*=y | CONFIG_*=m) ;; *) continue ;; esac
	grep -qx "$line" "$kdir/.config" || lost+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$kdir/.config" || echo unset))")
done < <(awk -F= '/^CONFIG_/ {v[$1] = $0; if (!($1 in o)) o[$1] = n++} END {for (k in o) print v[k]}' "${fragments[@]}")
if [ ${#lost[@]} -gt 0 ]; then
	printf '  %s\n' "${lost[@]}" >&2
	die "the kernel config lost options the fragments ask for (above); CONFIG_RUST=y must survive olddefconfig"
fi

start=$(date +%s)
kmake -j"$(nproc)" bzImage modules >"$kdir/build.log" 2>&1 ||
	{ tail -30 "$kdir/build.log" >&2; die "kernel build failed (full log: $kdir/build.log)"; }
[ -f "$kdir/Module.symvers" ] || die "kernel build left no Module.symvers"
log "kernel built in $(( $(date +%s) - start )) s"
touch "$kdir/.built"
echo "$kdir"
