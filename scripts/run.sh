#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make run`: build what is missing, boot the guest, load the BTT driver, create a
# sector namespace with ndctl, write and read back data, print a report.
# BTT_DRIVER=c|rs picks the driver (default: rs, the Rust btt_rs).
. "$(dirname "$0")/lib.sh"

driver=${BTT_DRIVER:-rs}
t0=$(date +%s)
"$BTT_TOP/scripts/toolchain.sh"
t1=$(date +%s)
kdir=$("$BTT_TOP/scripts/build-kernel.sh" debug)
t2=$(date +%s)
if [ "$driver" = rs ]; then
	"$BTT_TOP/scripts/build-module.sh" debug >/dev/null || die "building btt_rs.ko failed"
fi
t3=$(date +%s)
log "toolchain $((t1 - t0)) s, kernel $((t2 - t1)) s, module $((t3 - t2)) s; booting the guest ($kdir)"
"$BTT_TOP/scripts/qemu-run.sh" --fresh --img "$BTT_TOP/build/run.img" --out "$BTT_TOP/build/run" \
	-- sh tools/testing/guest/demo.sh "$driver" || die "the guest run failed (console: build/run/console.log)"
