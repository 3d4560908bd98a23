#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Writes btt-rs as a `git format-patch` series against the Linux 7.3 source
# tree into build/patches/ (0000-cover-letter.patch, then one patch per step).
#
# The series is generated from the files of this repository at every run
# (scripts/patches/transform.py does the rewrites for in-tree use), so it
# always follows the tree. The base commit holds only the pristine 7.3 files
# the series modifies: their blob ids, hence the patches' index lines, are
# those of the 7.3 tree, and `git am` applies them to it.
#
# Usage: scripts/make-patches.sh [OUTDIR]
. "$(dirname "$0")/lib.sh"

out=$(realpath -m "${1:-$BTT_TOP/build/patches}")
ksrc=$(kernel_src_dir)
[ -f "$ksrc/MAINTAINERS" ] || die "no kernel source at $ksrc (run scripts/toolchain.sh)"
xf=$BTT_TOP/scripts/patches/transform.py
author="btt-rs contributors <btt-rs@localhost>"

work=$(mktemp -d "${TMPDIR:-/tmp}/btt-rs-patches.XXXXXX")
trap 'rm -rf "$work"' EXIT
kt=$work/linux
mkdir -p "$kt"

# The files of 7.3 that the series modifies.
base_files=(MAINTAINERS drivers/nvdimm/Kconfig drivers/nvdimm/Makefile
	rust/bindings/bindings_helper.h rust/helpers/helpers.c
	rust/kernel/block.rs rust/kernel/lib.rs rust/kernel/sync.rs)
for f in "${base_files[@]}"; do
	mkdir -p "$kt/$(dirname "$f")"
	cp -p "$ksrc/$f" "$kt/$f"
done

g() { git -C "$kt" -c user.name="btt-rs contributors" -c user.email=btt-rs@localhost \
	-c commit.gpgsign=false "$@"; }
g init -q -b base
g add -A
GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z" \
	g commit -q -m "Linux ${KERNEL_SERIES} (the files this series modifies, from $(basename "$ksrc"))"
base=$(g rev-parse HEAD)

# step subject body...: runs the transform for `step` and commits.
n=0
commit() {
	local step=$1 subject=$2 body=$3
	python3 "$xf" "$step" "$BTT_TOP" "$kt"
	g add -A
	# rustfmt with the kernel's configuration, as `make rustfmtcheck` wants:
	# the new files only (a crate root it would read whole), and the
	# driver's root, which brings in its modules.
	local f
	for f in $(g diff --cached --name-only --diff-filter=A -- '*.rs'); do
		case $f in drivers/nvdimm/btt_rs/btt_rs.rs | rust/kernel/*)
			rustfmt --edition 2021 --config-path "$ksrc/.rustfmt.toml" "$kt/$f" ;;
		esac
	done
	g add -A
	n=$((n + 1))
	GIT_AUTHOR_DATE="2026-01-01T00:$(printf %02d $n):00Z" GIT_COMMITTER_DATE="2026-01-01T00:$(printf %02d $n):00Z" \
		g commit -q --author="$author" -F - <<-MSG
	$subject

	$body

	Signed-off-by: $author
	MSG
}

commit raw_buf "rust: add RawBuf and RawBufMut, byte ranges that are only copied" \
"A driver that copies between a device and a bio's pages must not make a
&[u8] or &mut [u8] of them: the pages may belong to user space, which can
write them while an O_DIRECT I/O is in flight. The C driver's memcpy()
then copies undefined data; in Rust the reference itself would assert
that nobody writes the bytes while it lives, a data race even if the bytes
are never looked at.

Add kernel::raw_buf::RawBuf<'a> (valid for reads for 'a) and
RawBufMut<'a> (valid for reads and writes for 'a, one owner at a time):
a pointer, a length and a lifetime, with bounds-checked sub-ranges and a
memset() to zero. Their bytes move only in C (the caller's copy routine,
memset()), as in a C driver; Page::read_raw() and its siblings do not fit,
as their callers must rule out such races. Both are made safely
from slices, so one I/O function serves kernel buffers and mapped pages
alike; making one from a raw pointer is unsafe and states what the pointer
must be valid for."

commit bio "rust: block: add a bio abstraction" \
"The Rust block layer abstractions only cover blk-mq requests. A bio-based
driver (one that sets submit_bio in its block_device_operations) needs the
bio itself: its operation, its data segment by segment, its integrity
payload, I/O accounting and its completion.

Add kernel::block::bio with:

- Bio: a bio handed to a driver's submit_bio. It must be ended exactly once
  (Bio::end); dropping it ends it with an I/O error. Taking charge of it
  prepares integrity and starts accounting in one C call.
- BioSegmentIterator and Segment<'a>: bio_for_each_segment() as an
  iterator of single-page segments that borrow the bio, so none outlives
  it.
- Mapping: the data of a segment, reached only inside
  Segment::with_mapped(), which maps the page with kmap_local_page() for
  the length of a closure, so local mappings are released in order. Its
  bytes are a RawBuf or RawBufMut, never a slice: user space may write
  them during O_DIRECT.

The names follow Andreas Hindborg's series \"block: rust: introduce
kernel::block::bio\"; the data is reached through a closure, as with
Page::with_page_mapped().

The C side is in rust/helpers/bio.c: the static inline and macro parts
(bio_integrity_action()/bio_integrity_prep(), blk_queue_io_stat() and
bio_start_io_acct(), the single-page step of bio_for_each_segment(), the
bvec walk of the integrity payload, get_disk_ro() of the bio's disk)."

commit bio_disk "rust: block: add bio-based GenDisk" \
"kernel::block::mq::gen_disk makes blk-mq disks only. Add its bio-based
counterpart, kernel::block::bio_disk:

- Operations, a #[vtable] trait: submit_bio() gets the bio and a borrow of
  the driver's queue data; geometry() answers HDIO_GETGEO.
- GenDiskBuilder: logical block size, max_hw_sectors, integrity metadata
  size, capacity, BLK_FEAT_SYNCHRONOUS and read-only, then
  blk_alloc_disk() and device_add_disk() under a parent device.
- GenDisk<T>: owns the queue data (a ForeignOwnable in private_data) and
  drops it only after del_gendisk() has returned, so no bio in flight can
  see it freed. The block_device_operations table is a constant built in
  Rust with its owner, so the module is held while a disk is open.

bindings_helper.h gains <linux/hdreg.h> (struct hd_geometry) and the
BLK_FEAT_SYNCHRONOUS constant."

commit cache_padded "rust: add CachePadded" \
"Add kernel::cache_padded::CachePadded<T>, the Rust counterpart of
____cacheline_aligned_in_smp: a value padded and aligned to the cache line,
so that two elements of an array never share a line (per-lane locks, as in
struct nd_lane).

repr(align) takes only a literal, so the alignment is chosen per
architecture from the CONFIG_* cfgs following each arch's cache.h, and a
const assertion checks it against SMP_CACHE_BYTES at build time: an
architecture missing from the table fails to build rather than silently
sharing lines. The kernel crate with this file and its KUnit test was
built for the defconfigs of x86_64, arm64, riscv64, loongarch, arm
(multi_v7), s390, ppc64le and ppc32 (pmac32); a wrong alignment for arm64
failed the build. The 8xx, e500mc and 47x arms were read from cache.h."

commit destroyed_mutex "rust: sync: add DestroyedMutex" \
"The kernel crate's Mutex never calls mutex_destroy(). Without
CONFIG_DEBUG_MUTEXES that is a no-op; with it, mutex_destroy() warns about
a mutex freed while locked and poisons it, so that a use after free is
reported.

Add kernel::sync::destroyed_mutex::DestroyedMutex<T>, a Mutex<T> that is
mutex_destroy()ed when dropped, and new_destroyed_mutex!, which gives each
call site its lockdep class as new_mutex! does. Reaching the struct mutex
relies on Lock being repr(C) with its state first (as Lock::from_raw()
does); a const assertion checks the layout at build time.

A Mutex::as_raw() in the kernel crate would let this be a Drop of Mutex
itself; this keeps the change additive."

commit ratelimit "rust: add a lock-free rate limiter" \
"The kernel crate has no rate-limited printing. Add
kernel::ratelimit::RateLimit, which allows DEFAULT_RATELIMIT_BURST (10)
messages per DEFAULT_RATELIMIT_INTERVAL (5 s) as ___ratelimit() does, with
atomics instead of a spinlock, and reports how many messages were
suppressed in the previous interval. A driver whose failing medium fails
every I/O logs through it. A KUnit test checks the burst."

commit memalloc "rust: add NoIoScope, allocations that start no I/O" \
"A block driver that allocates while a bio waits must not let reclaim
write back to a device, perhaps its own, that waits for that bio. Add
kernel::memalloc::NoIoScope, a guard over memalloc_noio_save() and
memalloc_noio_restore(): while it lives, every allocation of the task
behaves as GFP_NOIO, including those of code that takes no flags. It is
not Send, as the scope belongs to the task that entered it. The two
functions are static inlines, wrapped in rust/helpers/memalloc.c."

commit wait_bit "rust: sync: add wait_var, sleeping until a variable changes" \
"Add kernel::sync::wait_var: wait_while_equal() sleeps until an AtomicU32
no longer holds a value (wait_var_event(var, READ_ONCE(*var) != value)),
and wake_up() wakes its sleepers after a full barrier that orders the
caller's store before the wait queue check (smp_mb(); wake_up_var()).

wait_var_event() is a macro, and wake_up_var() needs the barrier spelled
out, so two helpers in rust/helpers/wait_bit.c wrap them for a u32:
wait_var_event_u32_ne() and smp_mb_wake_up_var()."

commit nvdimm "rust: nvdimm: add BTT device, namespace and region abstractions" \
"Add kernel::nvdimm, the libnvdimm objects a BTT driver uses, each a
transparent wrapper of the C object in Opaque, reached by reference only:

- BttDevice (struct nd_btt): its device and region, enabling its namespace
  for I/O and reading its configuration (the part of
  nvdimm_namespace_attach_btt() before btt_init(), nd_btt_version()
  included), its sysfs size, nvdimm_check_and_set_ro() for its disk, and
  the nd_btt->btt pointer, whose type must start with a struct btt because
  nd_pmem reads it (pmem_revalidate_region()); CBttHead says so.
- Namespace (struct nd_namespace_common): its BTT claim and disk name.
- Region (struct nd_region): lanes and read-only state.
- NamespaceIo: the bytes of an enabled namespace (nvdimm_read_bytes() and
  nvdimm_write_bytes()) to and from a RawBuf, so a bio's pages are copied
  without a slice of them, range-checked, and a write split as the BTT's
  persistence model needs it: the copy of nsio_rw_bytes() alone
  (write_unfenced) and nvdimm_flush() (flush), so that several writes share
  one flush.

libnvdimm's types are private to drivers/nvdimm (nd.h, and btt.h for
struct btt), so bindings_helper.h includes them by relative path, as it
already does for drivers/base/base.h and the binder headers. The static
inline nvdimm_read_bytes()/nvdimm_write_bytes() are the namespace's
rw_bytes pointer, called from Rust; one helper in rust/helpers/nvdimm.c,
rust_helper_nsio_write_unfenced(), does the copy, as is_bad_pmem() and
memcpy_flushcache() are static inlines.

The abstraction calls libnvdimm functions from the kernel crate, which is
built in, so it is only built when libnvdimm is
(CONFIG_LIBNVDIMM=y, as kernel::drm needs CONFIG_DRM=y)."

commit driver "nvdimm: btt_rs: add a BTT driver in Rust" \
"Add btt_rs, the BTT (Block Translation Table) driver written in Rust, as
an alternative to nd_btt (drivers/nvdimm/btt.c).

It keeps the on-media format bit for bit (a namespace written by either
driver opens in the other: info block versions 1.1 and 2.0, every sector
size nd_btt supports, several arenas, the pre-4.15 flog padding) and
exports nvdimm_namespace_attach_btt() and nvdimm_namespace_detach_btt()
from a small C file, as nd_btt does, so nd_pmem and ndctl use it unchanged.

Differences from nd_btt:

- Each lane is a mutex reached only through its guard, and the map locks
  may sleep: a BTT on a namespace whose flush sleeps (virtio-pmem) no
  longer sleeps under a spinlock.
- A writer that must wait for a reader of a free block sleeps
  (wait_var_event()) instead of spinning.
- A BTT attached while its region is read-only is opened read-only, and
  made writable (its recovery written then) by the first write once the
  region is writable.

The BTT algorithm (btt_core/) is safe Rust that uses nothing but core; the
driver around it (attach and detach, the bio path, lanes, the debugfs view
ndctl reads, the struct btt that nd_pmem reads through nd_btt->btt) uses
the abstractions of the previous patches.

Only one of nd_btt and btt_rs can be built: BLK_DEV_PMEM selects ND_BTT
only when ND_BTT_RUST is off, and cannot be built in while ND_BTT_RUST is
a module."

commit maintainers "MAINTAINERS: add an entry for the Rust BTT driver" \
"Add the Rust BTT driver and the libnvdimm Rust abstractions. The
maintainer line is a placeholder to be replaced by whoever maintains it."

rm -rf "$out"
mkdir -p "$out"
g format-patch -q --cover-letter -o "$out" "$base"..HEAD
cover=$out/0000-cover-letter.patch
python3 - "$cover" <<'PY'
import sys
p = sys.argv[1]
t = open(p).read()
t = t.replace("*** SUBJECT HERE ***", "rust: nvdimm: a BTT driver in Rust")
t = t.replace("*** BLURB HERE ***", """This series adds btt_rs, the BTT (Block Translation Table) driver of
drivers/nvdimm rewritten in Rust, and the kernel abstractions it needs:
byte ranges that are only copied (RawBuf), a bio abstraction and
bio-based GenDisk, CachePadded, a Mutex that is
mutex_destroy()ed on drop, a lock-free rate limiter, a no-I/O allocation
scope, two wait_var_event() helpers, and the libnvdimm objects a BTT
driver uses.

btt_rs keeps nd_btt's on-media format and exports the same two entry
points, so nd_pmem and ndctl use it unchanged; one of the two drivers is
built. Its per-lane locks are mutexes and its map locks may sleep, so a BTT
on virtio-pmem, whose flush sleeps, no longer sleeps in atomic context.

Generated from the btt-rs repository (scripts/make-patches.sh); it applies
to Linux 7.3 and builds with CONFIG_LIBNVDIMM=y, CONFIG_ND_BTT_RUST=m and
CLIPPY=1 (tools/testing/patches/check.sh). The Signed-off-by and
MAINTAINERS lines name a placeholder, "btt-rs contributors
<btt-rs@localhost>": replace them with real names before posting.""")
open(p, "w").write(t)
PY
ls "$out"
