#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Guest fuzz suite, the host's half (run.sh calls it).

serve: while the guest (probe.guest.sh) runs, for each patch file in order:
  put the pristine image back into the live NVDIMM backing file (in place: QEMU
  maps it shared), apply the patch, hash the image and run `btt check` on it,
  tell the guest to go (fz/go-i), wait for its fz/done-i (it has attached,
  read, written and detached by then), hash again, and judge:
  - every outcome: no splat in the image's window;
  - raw / refused / read-only: the image is byte for byte what it was;
    a read-only disk refused the write tried on it;
  - writable: each sector written read back in the guest, and `btt read` on
    the host returns it; `btt check` afterwards is clean, or names no
    problem it did not name before the guest.
  One JSON line per image goes to --results.
report: KTAP over every result line (one test point per image, one for the
  guest boots), the summary line, and failing patches copied to regressions/.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mutate  # noqa: E402

CHUNK = 1 << 16


def restore(live, pristine):
    """Writes back the chunks of LIVE that differ from PRISTINE (in place)."""
    with open(live, "r+b") as f:
        for off in range(0, len(pristine), CHUNK):
            want = pristine[off:off + CHUNK]
            f.seek(off)
            if f.read(len(want)) != want:
                f.seek(off)
                f.write(want)


def sha(path, n):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(n)).hexdigest()


def check(o):
    p = subprocess.run([o.btt, "check", o.img, "--offset", "4096", "--size", str(o.size)],
                       capture_output=True, text=True)
    lines = (p.stdout + p.stderr).splitlines()
    problems = sorted({line for line in lines if line.startswith("problem:")})
    if p.returncode != 0 and not problems:
        problems = [f"(exit {p.returncode}) " + (lines[-1] if lines else "")]
    return p.returncode == 0, problems


def btt_read(o, lba):
    p = subprocess.run([o.btt, "read", o.img, str(lba), "--offset", "4096", "--size", str(o.size)],
                       capture_output=True)
    return hashlib.sha256(p.stdout).hexdigest() if p.returncode == 0 else f"error: {p.stderr.decode()[:200]}"


def btt_read_all(o):
    """sha256 of every sector as the host's BTT core serves the image (unreadable
    ones as zeroes, as the guest's dd conv=noerror,sync has them), or None if it
    does not open the image."""
    p = subprocess.run([o.btt, "read", o.img, "0", "--count", "0", "--offset", "4096", "--size", str(o.size)],
                       capture_output=True)
    if p.returncode != 0 and b"could not be read" not in p.stderr:
        return None
    return hashlib.sha256(p.stdout).hexdigest()


def parse_done(path):
    d = {"writes": [], "kmsg": []}
    with open(path) as f:
        for line in f:
            w = line.rstrip("\n").split(" ")
            if w[0] == "OUTCOME" and len(w) >= 11:
                d.update(outcome=w[2], dev=w[3], cap=w[4], ro=w[5], readerrs=w[6], readsum=w[7],
                         rowrite=w[8], splats=int(w[9]), bttlines=int(w[10]),
                         finalsum=w[11] if len(w) > 11 else "-")
            elif w[0] == "W" and len(w) == 5:
                d["writes"].append({"lba": int(w[1]), "ss": int(w[2]), "sum": w[3], "readback": w[4]})
            elif w[0] == "KMSG":
                d["kmsg"].append(line[5:].rstrip("\n"))
    return d


def serve(o):
    with open(o.pristine, "rb") as f:
        pristine = f.read(o.nsbytes)
    fz = os.path.join(o.out, "fz")
    os.makedirs(fz, exist_ok=True)
    with open(o.patches) as f:
        patches = [line.strip() for line in f if line.strip()]
    res = open(o.results, "a")
    # Image 1's time counts from the guest's readiness, not from its boot.
    while not os.path.exists(os.path.join(fz, "ready")) and not os.path.exists(o.qemu_done):
        time.sleep(0.1)
    for i, patch in enumerate(patches, 1):
        cls, desc, runs = mutate.read_patch(patch)
        restore(o.img, pristine)
        with open(o.img, "r+b") as f:
            for off, data in runs:
                f.seek(off)
                f.write(data)
        before = sha(o.img, o.nsbytes)
        ok_before, probs_before = check(o)
        t0 = time.time()
        open(os.path.join(fz, f"go-{i}"), "w").close()
        done = os.path.join(fz, f"done-{i}")
        while not os.path.exists(done):
            if os.path.exists(o.qemu_done):
                time.sleep(1)
                if not os.path.exists(done):
                    break
            time.sleep(0.02)
        r = {"patch": patch, "name": os.path.basename(patch)[:-len(".patch")], "class": cls, "desc": desc,
             "check_before": "clean" if ok_before else probs_before, "secs": round(time.time() - t0, 2)}
        if not os.path.exists(done):
            r.update(outcome="none", fail=["the guest stopped before reporting this image"])
            res.write(json.dumps(r) + "\n")
            res.close()
            return 1
        d = parse_done(done)
        after = sha(o.img, o.nsbytes)
        fail = []
        out = d.get("outcome", "none")
        r.update({k: d.get(k) for k in ("outcome", "dev", "cap", "ro", "readerrs", "readsum", "rowrite",
                                         "splats", "bttlines")})
        r["kmsg"] = [k for k in d["kmsg"] if " btt" in k][:3]
        if out == "none":
            fail.append("no OUTCOME line from the guest")
        if d.get("splats", 1) != 0:
            fail.append(f"{d.get('splats')} splat line(s) while probing, serving and detaching")
            r["kmsg"] = d["kmsg"][:60]
        if out in ("raw", "refused", "ro"):
            if after != before:
                fail.append(f"image written although {out}")
            r["written"] = after != before
        if out == "ro" and d.get("rowrite") != "refused":
            fail.append("a read-only disk accepted a write")
        # The data served against the host's BTT core on the same bytes (the
        # final image for a writable one: what the disk served after the writes).
        if out in ("ro", "rw"):
            want = btt_read_all(o)
            got = d.get("readsum") if out == "ro" else d.get("finalsum")
            r["oracle"] = "none" if want is None else ("same" if want == got else "differs")
            if want is not None and want != got:
                fail.append(f"the data served differs from `btt read` of the {'final ' if out == 'rw' else ''}image")
        if out == "rw":
            for w in d["writes"]:
                if w["readback"] != "ok":
                    fail.append(f"sector {w['lba']} written did not read back in the guest")
                got = btt_read(o, w["lba"])
                if got != w["sum"]:
                    fail.append(f"sector {w['lba']}: btt read on the host gives {got[:16]}, not what the guest wrote")
            ok_after, probs_after = check(o)
            r["check_after"] = "clean" if ok_after else probs_after
            if not ok_after:
                new = [p for p in probs_after if p not in probs_before]
                if new:
                    fail.append("btt check after the guest: " + " | ".join(new[:3]))
        r["fail"] = fail
        res.write(json.dumps(r) + "\n")
        res.flush()
    res.close()
    open(os.path.join(fz, "end"), "w").close()
    return 0


def report(o):
    rs = []
    with open(o.results) as f:
        rs = [json.loads(line) for line in f if line.strip()]
    boots = [b.split(":") for b in o.boot]  # name:rc:splats:planned
    planned = sum(int(b[3]) for b in boots)
    print("TAP version 13")
    print(f"1..{planned + 1}")
    n = nfail = 0
    cnt = {"raw": 0, "refused": 0, "ro": 0, "rw": 0, "none": 0}
    by_class = {}
    wrote_refused = wrote_ro = splats = 0
    saved = []
    for r in rs:
        n += 1
        out = r.get("outcome") or "none"
        cnt[out] = cnt.get(out, 0) + 1
        by_class.setdefault(r["class"], {}).setdefault(out, 0)
        by_class[r["class"]][out] += 1
        if r.get("written") and out in ("raw", "refused"):
            wrote_refused += 1
        if r.get("written") and out == "ro":
            wrote_ro += 1
        splats += r.get("splats") or 0
        what = {"raw": "refused by libnvdimm (no BTT seen)", "refused": "refused by btt_rs",
                "ro": "served read-only", "rw": "served writable", "none": "no outcome"}[out]
        extra = f", {r['readerrs']} sector read errors" if r.get("readerrs") not in (None, "-", "0") else ""
        text = f"{r['name']} {r['class']}: {what}{extra} ({r['desc']})"
        if r["fail"]:
            nfail += 1
            for line in r["fail"]:
                print(f"# {r['name']}: {line}")
            for line in r.get("kmsg", [])[:60]:
                print(f"# {r['name']} kernel: {line}")
            print(f"not ok {n} {text}")
            if "/regressions/" not in r["patch"] and o.regressions:
                os.makedirs(o.regressions, exist_ok=True)
                dst = os.path.join(o.regressions, f"{r['class']}-{r['name']}.patch")
                shutil.copy(r["patch"], dst)
                with open(dst, "a") as f:
                    for line in r["fail"]:
                        f.write(f"# failed: {line}\n")
                saved.append(dst)
        else:
            if r.get("kmsg") and out in ("refused", "ro"):
                print(f"# {r['name']} kernel: {r['kmsg'][0]}")
            print(f"ok {n} {text}")
    bad_boot = [b for b in boots if b[1] != "0" or b[2] != "0"]
    gone = planned - len(rs)
    n += 1
    tb = ", ".join(f"{b[0]} exit {b[1]} splats {b[2]}" for b in boots)
    if bad_boot or gone:
        nfail += 1
        print(f"not ok {n} guest boots clean and every image reported ({tb}; {gone} image(s) unreported)")
    else:
        print(f"ok {n} guest boots clean and every image reported ({tb})")
    secs = [r["secs"] for r in rs if "secs" in r]
    if secs:
        print(f"# time per image in the guest: mean {sum(secs) / len(secs):.2f} s, max {max(secs):.2f} s")
    for c in sorted(by_class):
        print("# class " + c + ": " + ", ".join(f"{k} {v}" for k, v in sorted(by_class[c].items())))
    for p in saved:
        print(f"# saved as a regression case: {p}")
    print(f"# fuzz: {len(rs)} images, refused {cnt['raw'] + cnt['refused']} (libnvdimm {cnt['raw']}, btt_rs "
          f"{cnt['refused']}), read-only {cnt['ro']}, writable {cnt['rw']}, splats {splats}, "
          f"writes to refused {wrote_refused}, writes to read-only {wrote_ro}, failed {nfail}")
    return 1 if nfail else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    for a in ("--out", "--img", "--pristine", "--patches", "--btt", "--results", "--qemu-done"):
        s.add_argument(a, required=True)
    s.add_argument("--size", type=int, required=True, help="BTT size in bytes (from 4096)")
    s.add_argument("--nsbytes", type=int, required=True, help="namespace bytes (the file without its label area)")
    r = sub.add_parser("report")
    r.add_argument("--results", required=True)
    r.add_argument("--boot", action="append", default=[], help="NAME:RC:SPLATS:PLANNED, one per boot")
    r.add_argument("--regressions")
    o = ap.parse_args()
    sys.exit(serve(o) if o.cmd == "serve" else report(o))


if __name__ == "__main__":
    main()
