#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: btt_rs vs the C nd_btt vs raw pmem, side by side in one boot per
# CPU count of the plain (non-debug) kernel. Prints a table of IOPS and ratios,
# writes build/bench/bench.json and build/bench/ratios.png.
# Environment: BENCH_CPUS ("2 4"), BENCH_SIZES ("512 4096"), BENCH_DRIVERS ("c rs"),
# BENCH_RUNTIME (seconds per fio run, 3), BENCH_REPS (runs per job, 3; median kept).
. "$(dirname "$0")/lib.sh"

"$BTT_TOP/scripts/toolchain.sh"
"$BTT_TOP/scripts/build-kernel.sh" plain >/dev/null
drivers=${BENCH_DRIVERS:-c rs}
case " $drivers " in *" rs "*) "$BTT_TOP/scripts/build-module.sh" plain >/dev/null || die "building btt_rs.ko (plain) failed" ;; esac

venv=$BTT_CACHE/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
	log "installing matplotlib (PyPI) into $venv for the plot"
	python3 -m venv "$venv" && "$venv/bin/pip" install -q matplotlib || log "matplotlib unavailable: no plot"
fi

out=$BTT_TOP/build/bench
rm -rf "$out"
mkdir -p "$out"
for cpus in ${BENCH_CPUS:-2 4}; do
	log "bench: $cpus CPUs"
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour plain --cpus "$cpus" --fresh --size 256 \
		--img "$BTT_TOP/build/bench.img" --out "$out/boot-$cpus" --timeout 3600 \
		-- sh tools/testing/bench/bench.guest.sh "${BENCH_SIZES:-512 4096}" "$drivers" \
		"${BENCH_RUNTIME:-3}" "${BENCH_REPS:-3}" || die "bench boot with $cpus CPUs failed (see $out/boot-$cpus/console.log)"
	grep '^#' "$out/boot-$cpus/guest.log" >&2 || true
done
py=python3
[ -x "$venv/bin/python" ] && py=$venv/bin/python
"$py" "$BTT_TOP/tools/testing/bench/report.py" "$out" "$out/bench.json" "$out/ratios.png"
