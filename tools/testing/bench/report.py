#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Summarises `make bench`: medians of repeated fio runs, the ratios btt_rs/C and
BTT/raw, a table on stdout, a JSON file, and a PNG plot of the ratios.

Usage: report.py RESULTS_DIR OUT.json OUT.png
"""
import glob
import json
import os
import re
import statistics
import sys

NAME = re.compile(r"cpus(\d+)-ss(\d+)-(\w+)-(\w+)-(\w+)-nj(\d+)-r(\d+)\.json$")


def load(results):
    runs = {}
    for path in glob.glob(os.path.join(results, "**", "*.json"), recursive=True):
        m = NAME.search(path)
        if not m:
            continue
        cpus, ss, mode, rw, bs, nj, _ = m.groups()
        try:
            with open(path) as f:
                text = f.read()
            job = json.loads(text[text.index("{"):])["jobs"][0]
        except (ValueError, KeyError, IndexError):
            continue
        side = job["read"] if "read" in rw else job["write"]
        key = (int(cpus), int(ss), rw, bs, int(nj))
        runs.setdefault(key, {}).setdefault(mode, []).append((side["iops"], side["bw"] / 1024.0))
    return runs


def load_scale(results):
    """Lines "# scale SIZE_MIB ARENAS DRIVER CREATE_MS ATTACH_MS MEM_KIB" of scale.guest.sh."""
    rows = {}
    for path in glob.glob(os.path.join(results, "scale-*", "guest.log")):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) != 8 or p[:2] != ["#", "scale"]:
                    continue
                size, arenas, drv, create, attach, mem = p[2:]
                row = rows.setdefault(int(size), {"size_mib": int(size), "arenas": int(arenas)})
                if create != "-":
                    row["create_ms"] = int(create)
                row[drv] = {"attach_ms": int(attach), "mem_kib": int(mem)}
    return [rows[k] for k in sorted(rows)]


def load_zeroing(results):
    """Lines "# zeroing CPUS SS MODE MIB DISCARD_MS ZEROOUT_MS MKFS_MS" of bench.guest.sh."""
    rows = []
    for path in sorted(glob.glob(os.path.join(results, "boot-*", "guest.log"))):
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) != 9 or p[:2] != ["#", "zeroing"]:
                    continue
                cpus, ss, mode, mib, d, z, m = p[2:]
                ms = lambda v: None if v == "-" else int(v)
                rows.append({"cpus": int(cpus), "sector_size": int(ss), "mode": mode, "mib": int(mib),
                             "discard_ms": ms(d), "zeroout_ms": ms(z), "mkfs_ms": ms(m)})
    return rows


def print_zeroing(rows):
    if not rows:
        return
    print()
    print("Whole-disk zeroing (guest ms, best of runs): blkdiscard (discard; '-': refused), blkdiscard -z")
    print("(write-zeroes, or zero pages written by the block layer), mkfs.ext4 (discards first where it can).")
    hdr = f"{'cpus':>4} {'ss':>5} {'mode':>5} {'MiB':>5} {'discard':>8} {'zeroout':>8} {'mkfs':>6}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        v = lambda k: "-" if r[k] is None else str(r[k])
        print(f"{r['cpus']:>4} {r['sector_size']:>5} {r['mode']:>5} {r['mib']:>5} {v('discard_ms'):>8}"
              f" {v('zeroout_ms'):>8} {v('mkfs_ms'):>6}")


VPMEM = re.compile(r"vpmem-ss(\d+)-([\w-]+)-(\w+)-(\w+)-r(\d+)\.json$")


def load_vpmem(results):
    """fio JSON and flush counts of vpmem.guest.sh: medians per (mode, job)."""
    runs = {}
    for path in glob.glob(os.path.join(results, "vpmem-boot", "vpmem", "*.json")):
        m = VPMEM.search(path)
        if not m:
            continue
        ss, mode, rw, bs, _ = m.groups()
        try:
            with open(path) as f:
                text = f.read()
            w = json.loads(text[text.index("{"):])["jobs"][0]["write"]
        except (ValueError, KeyError, IndexError):
            continue
        flushes = None
        try:
            with open(path[: -len(".json")] + ".flushes") as f:
                flushes = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
        per_sector = flushes * int(ss) / w["io_bytes"] if flushes is not None and w["io_bytes"] else None
        per_io = flushes / w["total_ios"] if flushes is not None and w["total_ios"] else None
        runs.setdefault((int(ss), rw, bs), {}).setdefault(mode, []).append((w["iops"], per_io, per_sector))
    rows = []
    for (ss, rw, bs), modes in sorted(runs.items()):
        row = {"sector_size": ss, "rw": rw, "bs": bs}
        for mode, v in modes.items():
            med = lambda i: statistics.median(x[i] for x in v) if all(x[i] is not None for x in v) else None
            row[mode] = {"iops": round(med(0), 1), "runs": len(v),
                         "flushes_per_io": None if med(1) is None else round(med(1), 2),
                         "flushes_per_sector": None if med(2) is None else round(med(2), 2)}
        raw = row.get("raw-osync", {}).get("iops")
        for mode in modes:
            if mode != "raw-osync" and raw:
                row[mode]["over_raw_osync"] = round(row[mode]["iops"] / raw, 3)
        rows.append(row)
    return rows


def print_vpmem(rows):
    if not rows:
        return
    print()
    print("virtio-pmem, wall clock (medians): raw written with O_SYNC against btt_rs; flushes are the")
    print("flush requests sent to the host (interrupts of virtio-pmem's flush queue), per write and per")
    print("sector of the BTT's sector size.")
    hdr = f"{'ss':>5} {'job':>14} {'mode':>10} {'IOPS':>8} {'/raw':>6} {'fl/io':>6} {'fl/sec':>6}"
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        for mode in sorted(k for k in r if isinstance(r[k], dict)):
            m = r[mode]
            f = lambda v: "n/a" if v is None else f"{v:.2f}"
            print(f"{r['sector_size']:>5} {r['rw'] + ' ' + r['bs']:>14} {mode:>10} {m['iops']:>8.0f}"
                  f" {f(m.get('over_raw_osync')) if mode != 'raw-osync' else '':>6}"
                  f" {f(m['flushes_per_io']):>6} {f(m['flushes_per_sector']):>6}")


def print_batches(rows):
    """Write jobs of btt_rs with write batches (rs) and sector by sector (rs1)."""
    rows = [r for r in rows if "write" in r["rw"] and "rs1" in r]
    if not rows:
        return
    print()
    print("Write batches: btt_rs (write_batch=32: consecutive sectors of a bio share three flushes) against")
    print("btt_rs with write_batch=1 (three flushes per sector, as before), same boot.")
    hdr = (f"{'cpus':>4} {'ss':>5} {'job':>14} {'nj':>3} {'rs1 IOPS':>10} {'rs IOPS':>10}"
           f" {'rs1/raw':>7} {'rs/raw':>7} {'rs/rs1':>7} {'rs/C':>6}")
    print(hdr)
    print("-" * len(hdr))
    fr = lambda x, w: f"{x:>{w}.2f}" if x is not None else f"{'n/a':>{w}}"
    for r in rows:
        print(f"{r['cpus']:>4} {r['sector_size']:>5} {r['rw'] + ' ' + r['bs']:>14} {r['numjobs']:>3}"
              f" {r['rs1']['iops']:>10.0f} {r['rs']['iops'] if 'rs' in r else 0:>10.0f}"
              f" {fr(r['rs1_over_raw'], 7)} {fr(r['rs_over_raw'], 7)} {fr(r['rs_over_rs1'], 7)}"
              f" {fr(r['rs_over_c'], 6)}")


def print_scale(scale):
    if not scale:
        return
    print()
    print("Attach (ndctl enable-namespace, best of runs; guest ms) and kernel memory held (slab objects")
    print("+ vmalloc + per-CPU, KiB, smallest of runs; gendisk, queue and sysfs included) of one")
    print("4096-byte-sector namespace; the layout created by C, then attached by nd_btt, by btt_rs,")
    print("and by btt_rs with full_check=0.")
    hdr = (f"{'size':>9} {'arenas':>6} {'create':>7} {'C attach':>9} {'rs attach':>9} {'rs nochk':>9}"
           f" {'C mem':>7} {'rs mem':>7} {'nochk mem':>9}")
    print(hdr)
    print("-" * len(hdr))
    g = lambda r, d, k: f"{r[d][k]}" if d in r else "n/a"
    for r in scale:
        size = f"{r['size_mib'] // 1024} GiB" if r["size_mib"] >= 1024 else f"{r['size_mib']} MiB"
        print(f"{size:>9} {r['arenas']:>6} {r.get('create_ms', 'n/a'):>7} {g(r, 'c', 'attach_ms'):>9}"
              f" {g(r, 'rs', 'attach_ms'):>9} {g(r, 'rs-nocheck', 'attach_ms'):>9} {g(r, 'c', 'mem_kib'):>7}"
              f" {g(r, 'rs', 'mem_kib'):>7} {g(r, 'rs-nocheck', 'mem_kib'):>9}")


def main():
    results, out_json, out_png = sys.argv[1:4]
    runs = load(results)
    scale = load_scale(results)
    zeroing = load_zeroing(results)
    vpmem = load_vpmem(results)
    rows = []
    for key in sorted(runs):
        modes = {m: (statistics.median(i for i, _ in v), statistics.median(b for _, b in v), len(v))
                 for m, v in runs[key].items()}
        row = dict(zip(("cpus", "sector_size", "rw", "bs", "numjobs"), key))
        for m, (iops, bw, n) in modes.items():
            row[m] = {"iops": round(iops, 1), "MiB_s": round(bw, 2), "runs": n}
        def ratio(a, b):
            return round(modes[a][0] / modes[b][0], 3) if a in modes and b in modes and modes[b][0] else None
        row["rs_over_c"] = ratio("rs", "c")
        row["c_over_raw"] = ratio("c", "raw")
        row["rs_over_raw"] = ratio("rs", "raw")
        row["rs1_over_raw"] = ratio("rs1", "raw")
        row["rs_over_rs1"] = ratio("rs", "rs1")
        rows.append(row)

    icount = os.environ.get("BENCH_ICOUNT", "")
    print("btt-rs benchmark: medians of repeated fio runs, O_DIRECT, psync.")
    if icount:
        print(f"Measured under QEMU TCG with -icount shift={icount}: guest time counts guest instructions,")
        print("so IOPS are instructions per I/O (no memory or pmem latency): compare ratios only.")
    else:
        print("Measured under QEMU TCG: only the ratios between drivers in this one boot mean anything.")
    hdr = f"{'cpus':>4} {'ss':>5} {'job':>14} {'nj':>3} {'raw IOPS':>10} {'C IOPS':>10} {'rs IOPS':>10} {'rs/C':>6} {'C/raw':>6} {'rs/raw':>6}"
    print(hdr)
    print("-" * len(hdr))
    fmt = lambda r, m: f"{r[m]['iops']:>10.0f}" if m in r else f"{'n/a':>10}"
    fr = lambda x: f"{x:>6.2f}" if x is not None else f"{'n/a':>6}"
    for r in rows:
        print(f"{r['cpus']:>4} {r['sector_size']:>5} {r['rw'] + ' ' + r['bs']:>14} {r['numjobs']:>3} "
              f"{fmt(r, 'raw')} {fmt(r, 'c')} {fmt(r, 'rs')} {fr(r['rs_over_c'])} {fr(r['c_over_raw'])} {fr(r['rs_over_raw'])}")
    print_batches(rows)
    with open(out_json, "w") as f:
        note = "QEMU TCG; compare ratios within one boot only"
        if icount:
            note += f"; -icount shift={icount}: IOPS count guest instructions per I/O"
        json.dump({"note": note, "rows": rows, "scale": scale, "zeroing": zeroing, "vpmem": vpmem}, f, indent=1)
    print_scale(scale)
    print_zeroing(zeroing)
    print_vpmem(vpmem)
    print(f"\nJSON: {out_json}")

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: matplotlib missing, no PNG drawn")
        return
    labels = [f"{r['cpus']}cpu ss{r['sector_size']} {r['rw']} {r['bs']} nj{r['numjobs']}" for r in rows]
    fig, ax = plt.subplots(figsize=(12, max(4, len(rows) * 0.28)))
    y = range(len(rows))
    for i, (key, name) in enumerate((("rs_over_c", "btt_rs / C"), ("c_over_raw", "C / raw"), ("rs_over_raw", "btt_rs / raw"))):
        vals = [r[key] or 0 for r in rows]
        ax.barh([v + i * 0.27 for v in y], vals, height=0.27, label=name)
    ax.set_yticks([v + 0.27 for v in y])
    ax.set_yticklabels(labels, fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("IOPS ratio (same guest boot)")
    ax.set_title("btt-rs vs C nd_btt vs raw pmem (QEMU TCG: ratios only)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    print(f"plot: {out_png}")


if __name__ == "__main__":
    main()
