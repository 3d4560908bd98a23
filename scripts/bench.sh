#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: btt_rs vs the C nd_btt vs raw pmem, side by side in one boot per
# CPU count of the plain (non-debug) kernel. Prints a table of IOPS and ratios,
# writes build/bench/bench.json and build/bench/ratios.png.
# Environment: BENCH_CPUS ("2 4"), BENCH_SIZES ("512 4096"), BENCH_DRIVERS ("c rs rs1";
# rs1 is btt_rs with write_batch=1, sector by sector as before write batches),
# BENCH_RUNTIME (seconds of guest time per fio run, 1), BENCH_REPS (runs per job, 3;
# median kept), BENCH_JOBS ("randread:4k randwrite:4k read:128k write:128k"),
# BENCH_NUMJOBS ("1 4"), BENCH_RS_KO (the btt_rs.ko to measure; default the plain
# build), BENCH_ICOUNT (QEMU -icount shift, 0; empty: wall-clock TCG), BENCH_OUT
# (results directory, build/bench), BENCH_PARTS (which parts run: "pmem scale
# vpmem"; each replaces only its own results in BENCH_OUT), BENCH_VPMEM_KOS
# ("LABEL=PATH[@PARAM=VALUE,...] ..." btt_rs builds for the virtio-pmem part;
# default rs=the one measured above and rs1=the same with write_batch=1), BENCH_VPMEM_SS (4096), BENCH_VPMEM_RUNTIME (wall seconds per
# run, 3), BENCH_VPMEM_REPS (3), BENCH_VPMEM_JOBS ("randwrite:4k write:128k"),
# BENCH_SCALE (namespace sizes in MiB for the
# attach-time and memory table, "1024 65536 532480"; 532480 has two arenas; empty:
# none), BENCH_SCALE_REPS (attaches per driver, 3; the best kept).
#
# The guest runs with -icount shift=0,sleep=off: its clock advances 1 ns per guest
# instruction, so IOPS count guest instructions per I/O and are the same from run
# to run whatever else loads the host (wall-clock TCG on a busy 2-core host gave
# ratios off by 2-6x between runs). What icount does not model: memory and pmem
# latency (a flush costs what its instructions cost) and `rep movs`, counted one
# instruction per iteration.
. "$(dirname "$0")/lib.sh"

"$BTT_TOP/scripts/toolchain.sh"
"$BTT_TOP/scripts/build-kernel.sh" plain >/dev/null
drivers=${BENCH_DRIVERS:-c rs rs1}
rs_ko=${BENCH_RS_KO:-}
case " $drivers " in *" rs "* | *" rs1 "*)
	if [ -z "$rs_ko" ]; then
		"$BTT_TOP/scripts/build-module.sh" plain >/dev/null || die "building btt_rs.ko (plain) failed"
		rs_ko=$BTT_TOP/build/plain/btt_rs.ko
	fi
	[ -f "$rs_ko" ] || die "no $rs_ko"
	;;
esac

venv=$BTT_CACHE/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
	log "installing matplotlib (PyPI) into $venv for the plot"
	python3 -m venv "$venv" && "$venv/bin/pip" install -q matplotlib || log "matplotlib unavailable: no plot"
fi

out=${BENCH_OUT:-$BTT_TOP/build/bench}
parts=" ${BENCH_PARTS:-pmem scale vpmem} "
mkdir -p "$out"
# Each part replaces its own results only, so parts can run apart (the
# wall-clock one on an otherwise idle host) and be reported together.
case $parts in *" pmem "*) rm -rf "$out"/boot-* ;; esac
case $parts in *" scale "*) rm -rf "$out"/scale-* ;; esac
case $parts in *" vpmem "*) rm -rf "$out"/vpmem-boot ;; esac
export BTT_ICOUNT=${BENCH_ICOUNT-0}
case $parts in *" pmem "*) ;; *) BENCH_CPUS=none ;; esac
for cpus in ${BENCH_CPUS:-2 4}; do
	[ "$cpus" = none ] && break
	log "bench: $cpus CPUs"
	# The guest loads its own copy: a rebuild during the run changes nothing.
	mkdir -p "$out/boot-$cpus"
	[ -n "$rs_ko" ] && cp "$rs_ko" "$out/boot-$cpus/btt_rs.ko"
	"$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour plain --cpus "$cpus" --fresh --size 256 \
		--img "$out/bench.img" --out "$out/boot-$cpus" --timeout 7200 \
		-- env BTT_RS_KO=/out/btt_rs.ko sh tools/testing/bench/bench.guest.sh "${BENCH_SIZES:-512 4096}" "$drivers" \
		"${BENCH_RUNTIME:-1}" "${BENCH_REPS:-3}" "${BENCH_JOBS:-randread:4k randwrite:4k read:128k write:128k}" \
		"${BENCH_NUMJOBS:-1 4}" || die "bench boot with $cpus CPUs failed (see $out/boot-$cpus/console.log)"
	grep '^#' "$out/boot-$cpus/guest.log" >&2 || true
done
rm -f "$out/bench.img"
# Scale: attach time and memory per namespace as it grows, one boot per size
# (sparse backing file: only the metadata takes host disk).
case $parts in *" scale "*) ;; *) BENCH_SCALE= ;; esac
for size in ${BENCH_SCALE-1024 65536 532480}; do
	log "bench: scale, $size MiB namespace"
	mkdir -p "$out/scale-$size"
	cp "${rs_ko:-$BTT_TOP/build/plain/btt_rs.ko}" "$out/scale-$size/btt_rs.ko" 2>/dev/null || true
	BTT_MAXMEM=$((size / 1024 + 64))G "$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour plain --cpus 2 --fresh \
		--size "$size" --img "$out/scale.img" --out "$out/scale-$size" --timeout 7200 \
		-- env BTT_RS_KO=/out/btt_rs.ko sh tools/testing/bench/scale.guest.sh "${BENCH_SCALE_REPS:-3}" ||
		die "scale boot with $size MiB failed (see $out/scale-$size/console.log)"
	rm -f "$out/scale.img"
done
# virtio-pmem: wall clock (a flush is the host's fsync, which icount does not
# see), raw O_SYNC against each btt_rs build named in BENCH_VPMEM_KOS.
case $parts in *" vpmem "*)
	log "bench: virtio-pmem (wall clock)"
	d=$out/vpmem-boot kos=
	mkdir -p "$d"
	def=${rs_ko:-$BTT_TOP/build/plain/btt_rs.ko}
	for ko in ${BENCH_VPMEM_KOS:-rs=$def rs1=$def@write_batch=1}; do
		label=${ko%%=*} path=${ko#*=} params=
		case $path in *@*) params=@${path#*@} path=${path%%@*} ;; esac
		cp "$path" "$d/$label.ko" || die "no $path"
		kos="$kos $label=/out/$label.ko$params"
	done
	BTT_ICOUNT= "$BTT_TOP/scripts/qemu-run.sh" --quiet --flavour plain --cpus 2 --fresh --size 256 \
		--virtio-pmem --img "$out/vpmem.img" --out "$d" --timeout 7200 \
		-- sh tools/testing/bench/vpmem.guest.sh "${BENCH_VPMEM_SS:-4096}" "${BENCH_VPMEM_RUNTIME:-3}" \
		"${BENCH_VPMEM_REPS:-3}" "${BENCH_VPMEM_JOBS:-randwrite:4k write:128k}" "${kos# }" ||
		die "virtio-pmem bench boot failed (see $d/console.log)"
	grep '^#' "$d/guest.log" >&2 || true
	rm -f "$out/vpmem.img"
	;;
esac
py=python3
[ -x "$venv/bin/python" ] && py=$venv/bin/python
BENCH_ICOUNT=$BTT_ICOUNT "$py" "$BTT_TOP/tools/testing/bench/report.py" "$out" "$out/bench.json" "$out/ratios.png"
