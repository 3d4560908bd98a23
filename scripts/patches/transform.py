#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Writes btt-rs's files, transformed for the kernel tree, into a checkout of
Linux 7.3 (make-patches.sh commits each step as one patch).

Usage: transform.py STEP REPO KTREE
  REPO: the btt-rs repository; KTREE: the kernel tree (git work tree) to write.

Every transform is a fixed text rewrite that must match: when the source
changes so that a pattern no longer matches, this fails and says which, rather
than writing a series that differs from the tree.
"""
import os
import re
import sys

# The C glue's helpers (rust/glue/btt_glue.c) and the names they get under
# rust/helpers/ (rust_helper_<name>; Rust calls bindings::<name>).
HELPERS = {
    "btt_rs_bio_begin": ("bio", "bio_submit_begin"),
    "btt_rs_bio_disk_ro": ("bio", "bio_disk_ro"),
    "btt_rs_bvec_iter_step": ("bio", "bvec_iter_step"),
    "btt_rs_bio_integrity_copy": ("bio", "bio_integrity_copy_buf"),
    "btt_rs_rtt_wait": ("wait_bit", "wait_var_event_u32_ne"),
    "btt_rs_rtt_wake": ("wait_bit", "smp_mb_wake_up_var"),
    "btt_rs_nsio_write_unfenced": ("nvdimm", "nsio_write_unfenced"),
    "btt_rs_memalloc_noio_save": ("memalloc", "memalloc_noio_save"),
    "btt_rs_memalloc_noio_restore": ("memalloc", "memalloc_noio_restore"),
}

# rust/kernel_ext/<path> -> rust/kernel/<path> (same path below the crate).
KERNEL_FILES = {
    "raw_buf": ["raw_buf.rs"],
    "bio": ["block/bio.rs"],
    "bio_disk": ["block/bio_disk.rs"],
    "cache_padded": ["cache_padded.rs"],
    "destroyed_mutex": ["sync/destroyed_mutex.rs"],
    "ratelimit": ["ratelimit.rs"],
    "memalloc": ["memalloc.rs"],
    "wait_bit": ["sync/wait_var.rs"],
    "nvdimm": ["nvdimm.rs"],
}

NVDIMM_CFG = '#[cfg(all(CONFIG_LIBNVDIMM = "y", CONFIG_BTT))]'


def die(msg):
    sys.exit(f"transform.py: {msg}")


def read(p):
    with open(p) as f:
        return f.read()


def write(p, text):
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)


def sub(text, old, new, what, count=1, regex=False):
    """Replaces `old` (exactly `count` times; 0: at least once)."""
    if regex:
        n = len(re.findall(old, text, flags=re.M))
    else:
        n = text.count(old)
    if (count and n != count) or n == 0:
        die(f"{what}: expected {count or '>=1'} match(es) of {old!r}, found {n}")
    if regex:
        return re.sub(old, new, text, flags=re.M)
    return text.replace(old, new)


def insert_before(text, anchor, line, what):
    """Inserts `line` before the line `anchor` (exact, once)."""
    return sub(text, anchor + "\n", line + anchor + "\n", what)


def helper_calls(text, what, prefix, to="bindings::"):
    for old, (_, new) in HELPERS.items():
        text = text.replace(f"{prefix}{old}(", f"{to}{new}(")
        text = re.sub(rf"`{old}`", f"`{new}`", text)
    if "btt_rs_" in re.sub(r"kunit_tests\(btt_rs_\w+\)", "", text):
        leftover = sorted(set(re.findall(r"\bbtt_rs_\w+", text)))
        if leftover and prefix != "crate::kernel_ext::glue::":
            die(f"{what}: unmapped glue names {leftover}")
    return text


def kernel_rs(text, what):
    """A rust/kernel_ext file as a file of the kernel crate."""
    t = text.replace("pub(crate)", "pub")
    t = helper_calls(t, what, "glue::")
    t = re.sub(r"^use crate::kernel_ext::glue;\n\n?", "", t, flags=re.M)
    t = re.sub(r"^(    \},)\n    glue, //\n", r"\1 //\n", t, flags=re.M)
    t = re.sub(r"^    glue,( //)?\n", "", t, flags=re.M)
    # libnvdimm's and btt.h's types are part of kernel::bindings now.
    if "bindings as nd," in t:
        if re.search(r"^use kernel::bindings;$", t, flags=re.M):
            t = sub(t, "    bindings as nd,\n", "", what)
        else:
            t = sub(t, "    bindings as nd,\n", "    bindings,\n", what)
    t = re.sub(r"\bnd::", "bindings::", t)
    t = t.replace("crate::kernel_ext::", "crate::")
    t = t.replace("kunit_tests(btt_rs_", "kunit_tests(rust_kernel_")
    if "glue" in re.sub(r"//.*", "", t):
        die(f"{what}: a use of the glue is left")
    return t


def fix_bio_disk(t):
    return sub(
        t,
        "        // `struct hd_geometry` is opaque in `kernel::bindings` (no hdreg.h).\n"
        "        let geo = geo.cast::<bindings::hd_geometry>();\n",
        "",
        "bio_disk.rs: hd_geometry cast",
    )


def add_is_empty(t, what, thing, count=1):
    # Clippy (len_without_is_empty), now that `len` is public API.
    return sub(t, """    pub fn len(&self) -> usize {
        self.len
    }
""", f"""    pub fn len(&self) -> usize {{
        self.len
    }}

    /// Whether the {thing} has no bytes.
    pub fn is_empty(&self) -> bool {{
        self.len == 0
    }}
""", what, count=count)


def fix_bio(t):
    return add_is_empty(t, "bio.rs: Segment::len", "segment")


def fix_raw_buf(t):
    return add_is_empty(t, "raw_buf.rs: len", "range", count=2)


def fix_ratelimit(t):
    # missing_docs and Clippy's new_without_default, now that these are public.
    t = sub(t, "    Print { suppressed: u32 },\n",
            "    Print {\n        /// Messages dropped in the interval before this one.\n"
            "        suppressed: u32,\n    },\n", "ratelimit.rs: Print")
    return sub(t, "\nimpl RateLimit {\n",
               "\nimpl Default for RateLimit {\n    fn default() -> Self {\n        Self::new()\n    }\n}\n"
               "\nimpl RateLimit {\n", "ratelimit.rs: impl")


def fix_destroyed_mutex(t):
    t = sub(t, "macro_rules! new_destroyed_mutex {",
            "#[macro_export]\nmacro_rules! new_destroyed_mutex {",
            "destroyed_mutex.rs: macro")
    return t


def glue_functions(glue_c):
    """{name: C text} of the functions of btt_glue.c, each with the comment
    right above it. The block under #ifdef BTT_KCSAN_CANARY (make kcsan's
    planted race, with a second btt_rs_bio_begin()) is not part of the driver."""
    glue_c = re.sub(r"^#ifdef BTT_KCSAN_CANARY\n.*?^#endif\n", "", glue_c, flags=re.M | re.S)
    funcs = {}
    for m in re.finditer(r"^((?:/\*(?:[^*]|\*(?!/))*\*/\n)?)(\w[\w \t*]*?\b(\w+)\((?:[^)]*)\)\n\{.*?\n\}\n)",
                         glue_c, flags=re.M | re.S):
        funcs[m.group(3)] = (m.group(1), m.group(2))
    return funcs


def realign(sig_and_body, old, new_first):
    """Renames the function `old` to `new_first` (the whole text before its
    '('), refilling its parameter list to 80 columns, continuation lines
    aligned with the '('."""
    head, rest = sig_and_body.split("(", 1)
    if not head.endswith(old):
        die(f"glue: {old} not where expected")
    params, body = rest.split(")\n{", 1)
    args = [a.strip() for a in " ".join(params.split()).split(",")]
    col = len(new_first.expandtabs()) + 1
    indent = "\t" * (col // 8) + " " * (col % 8)
    lines, cur = [], new_first + "("
    for i, a in enumerate(args):
        piece = a + ("," if i < len(args) - 1 else ")")
        if cur.endswith("(") or len((cur + " " + piece).expandtabs()) <= 80:
            cur = cur + ("" if cur.endswith("(") else " ") + piece
        else:
            lines.append(cur)
            cur = indent + piece
    lines.append(cur)
    return "\n".join(lines) + "\n{" + body


def helper_c(glue_c, group):
    funcs = glue_functions(glue_c)
    parts = []
    for old, (g, new) in HELPERS.items():
        if g != group:
            continue
        if old not in funcs:
            die(f"glue: {old}() not found in btt_glue.c")
        comment, fn = funcs[old]
        ret = fn.split(old + "(", 1)[0]
        fn = realign(fn, old, f"__rust_helper {ret}rust_helper_{new}")
        # 7.3's typed allocation helper, as checkpatch asks of new code.
        fn = re.sub(r"kzalloc\(sizeof\((\*\w+)\), GFP_KERNEL\)", r"kzalloc_obj(\1)", fn)
        # checkpatch --strict: "Comparison to NULL could be written ...".
        fn = re.sub(r"= (\w+\(\w+\)) != NULL;", r"= !!\1;", fn)
        parts.append(comment + fn)
    return "\n".join(parts)


def export_c(glue_c):
    funcs = glue_functions(glue_c)
    body = []
    for name in ("nvdimm_namespace_attach_btt", "nvdimm_namespace_detach_btt"):
        if name not in funcs:
            die(f"glue: {name}() not found")
        c, fn = funcs[name]
        m = re.search(rf"^{name}\);\n", glue_c[glue_c.index(fn) + len(fn):], flags=re.M)
        ex = re.search(rf"^EXPORT_SYMBOL\({name}\);\n", glue_c, flags=re.M)
        if not ex:
            die(f"glue: no EXPORT_SYMBOL({name})")
        body.append(c + fn + ex.group(0))
    return body


def driver_rs(text, what):
    t = helper_calls(text, what, "crate::kernel_ext::glue::", "kernel::bindings::")
    t = t.replace("use crate::kernel_ext::{", "use kernel::{")
    t = t.replace("crate::kernel_ext::", "kernel::")
    t = t.replace("rust/glue/btt_glue.c", "btt_rs_exports.c")
    return t


def fix_root(t):
    t = sub(t,
            "/// Kernel abstractions the driver builds on (rust/kernel_ext/), each shaped as\n"
            "/// it would be under upstream `rust/kernel/`; nothing in them knows of BTT.\n"
            '#[path = "../kernel_ext/mod.rs"]\n'
            "mod kernel_ext;\n\n", "", "btt_rs.rs: kernel_ext")
    t = sub(t, "/// The BTT algorithm (rust/btt_core/src/btt/), shared with the host build; it\n"
               "/// uses nothing but `core`.\n"
               '#[path = "../btt_core/src/btt/mod.rs"]\n',
            "/// The BTT algorithm (btt_core/), in safe Rust that uses nothing but `core`;\n"
            "/// the same files build in user space for btt-rs's host tests and tools.\n",
            "btt_rs.rs: btt_core")
    return t


def main():
    step, repo, kt = sys.argv[1:4]
    kx = os.path.join(repo, "rust/kernel_ext")
    glue_c = read(os.path.join(repo, "rust/glue/btt_glue.c"))

    def kfile(rel):
        return os.path.join(kt, rel)

    def edit(rel, fn):
        write(kfile(rel), fn(read(kfile(rel))))

    def helper_file(group, includes, before, guard=""):
        """rust/helpers/<group>.c with the glue's helpers of `group` (inside
        `guard` ... #endif if given), included by helpers.c before `before`."""
        body = helper_c(glue_c, group)
        if guard:
            body = guard + body + "#endif\n"
        write(kfile(f"rust/helpers/{group}.c"),
              "// SPDX-License-Identifier: GPL-2.0\n\n" + includes + "\n" + body)
        edit("rust/helpers/helpers.c",
             lambda t: insert_before(t, f'#include "{before}"', f'#include "{group}.c"\n', "helpers.c"))

    if step in KERNEL_FILES:
        for rel in KERNEL_FILES[step]:
            t = kernel_rs(read(os.path.join(kx, rel)), rel)
            if step == "bio_disk":
                t = fix_bio_disk(t)
            if step == "destroyed_mutex":
                t = fix_destroyed_mutex(t)
            if step == "bio":
                t = fix_bio(t)
            if step == "raw_buf":
                t = fix_raw_buf(t)
            if step == "ratelimit":
                t = fix_ratelimit(t)
            write(kfile("rust/kernel/" + rel), t)

    if step == "raw_buf":
        edit("rust/kernel/lib.rs", lambda t: insert_before(t, "pub mod rbtree;", "pub mod raw_buf;\n", "lib.rs"))
    elif step == "bio":
        edit("rust/kernel/block.rs", lambda t: insert_before(t, "pub mod mq;", "pub mod bio;\n", "block.rs"))
        helper_file("bio", "#include <linux/bio.h>\n#include <linux/bio-integrity.h>\n"
                    "#include <linux/blk-integrity.h>\n#include <linux/blkdev.h>\n"
                    "#include <linux/highmem.h>\n", "bitmap.c")
    elif step == "bio_disk":
        edit("rust/kernel/block.rs", lambda t: insert_before(t, "pub mod mq;", "pub mod bio_disk;\n", "block.rs"))

        def bh(t):
            t = insert_before(t, "#include <linux/i2c.h>", "#include <linux/hdreg.h>\n", "bindings_helper.h")
            return sub(t, "const blk_features_t RUST_CONST_HELPER_BLK_FEAT_ROTATIONAL = BLK_FEAT_ROTATIONAL;\n",
                       "const blk_features_t RUST_CONST_HELPER_BLK_FEAT_ROTATIONAL = BLK_FEAT_ROTATIONAL;\n"
                       "const blk_features_t RUST_CONST_HELPER_BLK_FEAT_SYNCHRONOUS = BLK_FEAT_SYNCHRONOUS;\n",
                       "bindings_helper.h")
        edit("rust/bindings/bindings_helper.h", bh)
    elif step == "cache_padded":
        edit("rust/kernel/lib.rs", lambda t: insert_before(t, "pub mod clk;", "pub mod cache_padded;\n", "lib.rs"))
    elif step == "destroyed_mutex":
        edit("rust/kernel/sync.rs", lambda t: insert_before(t, "pub mod lock;", "pub mod destroyed_mutex;\n", "sync.rs"))
    elif step == "ratelimit":
        edit("rust/kernel/lib.rs", lambda t: insert_before(t, "pub mod raw_buf;", "pub mod ratelimit;\n", "lib.rs"))
    elif step == "memalloc":
        helper_file("memalloc", "#include <linux/sched/mm.h>\n", "mm.c")
        edit("rust/kernel/lib.rs", lambda t: insert_before(t, "pub mod miscdevice;", "pub mod memalloc;\n", "lib.rs"))
    elif step == "wait_bit":
        helper_file("wait_bit", "#include <linux/wait_bit.h>\n", "workqueue.c")
        edit("rust/kernel/sync.rs", lambda t: insert_before(t, "pub mod lock;", "pub mod wait_var;\n", "sync.rs"))
    elif step == "nvdimm":
        helper_file("nvdimm", "#include <linux/nd.h>\n" '#include "../../drivers/nvdimm/nd.h"\n', "of.c",
                    # The same condition as kernel::nvdimm's cfg (NVDIMM_CFG).
                    guard="#if IS_BUILTIN(CONFIG_LIBNVDIMM) && IS_ENABLED(CONFIG_BTT)\n")
        edit("rust/kernel/lib.rs", lambda t: insert_before(t, "pub mod of;", NVDIMM_CFG + "\npub mod nvdimm;\n", "lib.rs"))
        edit("rust/bindings/bindings_helper.h",
             lambda t: insert_before(t, "#if IS_ENABLED(CONFIG_ANDROID_BINDER_IPC_RUST)",
                                     '#include "../../drivers/nvdimm/nd.h"\n#include "../../drivers/nvdimm/btt.h"\n\n',
                                     "bindings_helper.h"))
    elif step == "driver":
        d = os.path.join(repo, "rust/driver")
        for f in sorted(os.listdir(d)):
            if f.endswith(".rs"):
                t = driver_rs(read(os.path.join(d, f)), f)
                if f == "btt_rs.rs":
                    t = fix_root(t)
                if "kernel_ext" in re.sub(r"//.*", "", t):
                    die(f"{f}: kernel_ext left")
                write(kfile("drivers/nvdimm/btt_rs/" + f), t)
        c = os.path.join(repo, "rust/btt_core/src/btt")
        for f in sorted(os.listdir(c)):
            if f.endswith(".rs"):
                write(kfile("drivers/nvdimm/btt_rs/btt_core/" + f), read(os.path.join(c, f)))
        write(kfile("drivers/nvdimm/btt_rs/btt_rs_exports.c"),
              "// SPDX-License-Identifier: GPL-2.0\n"
              "/*\n * The two entry points nd_pmem calls for a namespace in sector mode, exported\n"
              " * under the names nd_btt.ko exports, so an unchanged nd_pmem attaches BTTs\n"
              " * through btt_rs. A Rust module cannot export symbols itself: they only\n"
              " * forward to Rust (btt_rs.rs).\n */\n"
              "#include <linux/export.h>\n#include \"../nd.h\"\n#include \"btt_rs.h\"\n\n"
              + "\n".join(export_c(glue_c)))
        write(kfile("drivers/nvdimm/btt_rs/btt_rs.h"),
              "/* SPDX-License-Identifier: GPL-2.0 */\n"
              "#ifndef __ND_BTT_RS_H__\n#define __ND_BTT_RS_H__\n\n"
              "struct nd_btt;\nstruct nd_namespace_common;\n\n"
              "/* Implemented in Rust (btt_rs.rs), called by the two exports. */\n"
              "int btt_rs_attach(struct nd_namespace_common *ndns);\n"
              "int btt_rs_detach(struct nd_btt *nd_btt);\n\n"
              "#endif /* __ND_BTT_RS_H__ */\n")

        def kc(t):
            t = sub(t, "\tselect ND_BTT if BTT\n", "\tselect ND_BTT if BTT && ND_BTT_RUST=n\n", "Kconfig")
            t = sub(t, "config BLK_DEV_PMEM\n\ttristate \"PMEM: Persistent memory block device support\"\n",
                    "config BLK_DEV_PMEM\n\ttristate \"PMEM: Persistent memory block device support\"\n"
                    "\tdepends on ND_BTT_RUST || ND_BTT_RUST=n\n", "Kconfig")
            return insert_before(t, "config ND_PFN", KCONFIG, "Kconfig")
        edit("drivers/nvdimm/Kconfig", kc)

        def mk(t):
            t = sub(t, "obj-$(CONFIG_ND_BTT) += nd_btt.o\n",
                    "obj-$(CONFIG_ND_BTT) += nd_btt.o\nobj-$(CONFIG_ND_BTT_RUST) += btt_rs.o\n", "Makefile")
            return sub(t, "nd_btt-y := btt.o\n",
                       "nd_btt-y := btt.o\n\nbtt_rs-y := btt_rs/btt_rs.o btt_rs/btt_rs_exports.o\n", "Makefile")
        edit("drivers/nvdimm/Makefile", mk)
    elif step == "maintainers":
        edit("MAINTAINERS", lambda t: insert_before(t, "LIBNVDIMM PMEM: PERSISTENT MEMORY DRIVER", MAINT, "MAINTAINERS"))
    else:
        die(f"unknown step {step}")


KCONFIG = """config ND_BTT_RUST
	tristate "BTT: Block Translation Table, in Rust"
	depends on RUST && BTT && LIBNVDIMM=y
	help
	  The BTT driver (nd_btt, drivers/nvdimm/btt.c) written in Rust:
	  the same on-media format (a namespace written by either driver
	  opens in the other), with one sleeping lock per lane and map
	  locks that may sleep, so that a BTT on a namespace whose flush
	  sleeps (virtio-pmem) does not sleep in atomic context.

	  It exports the two functions nd_pmem calls, as nd_btt does, so
	  only one of the two can be built: selecting this leaves nd_btt
	  out. The Rust libnvdimm abstractions it uses call into
	  libnvdimm from the kernel crate, hence LIBNVDIMM=y.

	  To compile this driver as a module, choose M here: the module
	  will be called btt_rs.

	  If unsure, say N.

"""

MAINT = """LIBNVDIMM BTT: RUST DRIVER
M:	btt-rs contributors <btt-rs@localhost>
L:	nvdimm@lists.linux.dev
L:	rust-for-linux@vger.kernel.org
S:	Maintained
F:	drivers/nvdimm/btt_rs/
F:	rust/kernel/nvdimm.rs

"""

if __name__ == "__main__":
    main()
