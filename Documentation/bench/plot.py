#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Draws a committed bench result (Documentation/bench/DATE-TREE.json) as a PNG
of the IOPS ratios btt_rs/C, C/raw and btt_rs/raw: one panel per CPU count and
sector size, one group of bars per fio job. Only the ratios are drawn: under
QEMU's -icount the IOPS count guest instructions, not time.

Usage: plot.py BENCH.json [OUT.png]      (default: BENCH.json with .png)
Needs matplotlib (pip install matplotlib).
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERIES = (("c_over_raw", "C nd_btt / raw"), ("rs_over_raw", "btt_rs / raw"), ("rs_over_c", "btt_rs / C"))
COLOURS = ("#9e9e9e", "#d9541e", "#1f6fb4")


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.splitext(src)[0] + ".png"
    with open(src) as f:
        data = json.load(f)
    rows = data["rows"]
    cpus = sorted({r["cpus"] for r in rows})
    sizes = sorted({r["sector_size"] for r in rows})
    fig, axes = plt.subplots(len(sizes), len(cpus), figsize=(8 * len(cpus), 3.6 * len(sizes)),
                             sharey=True, squeeze=False)
    top = max(max(r[k] or 0 for k, _ in SERIES) for r in rows)
    for i, ss in enumerate(sizes):
        for j, n in enumerate(cpus):
            ax = axes[i][j]
            sel = [r for r in rows if r["cpus"] == n and r["sector_size"] == ss]
            labels = [f"{r['rw']} {r['bs']}\nnj {r['numjobs']}" for r in sel]
            w = 0.27
            for k, ((key, name), colour) in enumerate(zip(SERIES, COLOURS)):
                xs = [x + (k - 1) * w for x in range(len(sel))]
                vals = [r[key] or 0 for r in sel]
                bars = ax.bar(xs, vals, width=w, color=colour, label=name)
                ax.bar_label(bars, labels=[f"{v:.2f}" for v in vals], fontsize=5.5, padding=1)
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.set_xticks(range(len(sel)))
            ax.set_xticklabels(labels, fontsize=7)
            ax.set_ylim(0, top * 1.12)
            ax.set_title(f"{n} CPUs, {ss}-byte sectors", fontsize=9)
            if j == 0:
                ax.set_ylabel("IOPS ratio")
    axes[0][0].legend(fontsize=7, loc="upper left")
    commit = data.get("commit", "?")[:7]
    fig.suptitle(f"make bench, {data.get('date', '?')}, tree {commit}: fio O_DIRECT psync, "
                 "QEMU TCG -icount (ratios only; 1.0 = equal)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
