// SPDX-License-Identifier: GPL-2.0
/*
 * C side of btt_rs: what Rust cannot express directly.
 *
 * - The two entry points that nd_pmem calls, exported under the names the C
 *   nd_btt.ko exports, so an unchanged nd_pmem attaches BTTs through btt_rs.
 *   They only forward to Rust (rust/driver/btt_rs.rs).
 * - Wrappers for static inline functions and macros of the block layer,
 *   the scheduler and libnvdimm: the start of a bio (integrity preparation,
 *   accounting), the integrity payload, wait_var_event(), and the copy of
 *   nsio_rw_bytes() (is_bad_pmem() and memcpy_flushcache() are static
 *   inlines). Segments of a bio are walked in Rust (bio.rs).
 */
#include <linux/module.h>
#include <linux/blkdev.h>
#include <linux/bio.h>
#include <linux/bio-integrity.h>
#include <linux/blk-integrity.h>
#include <linux/wait_bit.h>
#include <linux/highmem.h>
#include <linux/sched/mm.h>
#include "nd.h"		/* the prototypes of the two exports */
#include "btt_glue.h"

int nvdimm_namespace_attach_btt(struct nd_namespace_common *ndns)
{
	return btt_rs_attach(ndns);
}
EXPORT_SYMBOL(nvdimm_namespace_attach_btt);

int nvdimm_namespace_detach_btt(struct nd_btt *nd_btt)
{
	return btt_rs_detach(nd_btt);
}
EXPORT_SYMBOL(nvdimm_namespace_detach_btt);

/*
 * The start of btt_submit_bio(), in one call (each call from Rust costs as
 * much as the work): the integrity layer attaches or checks protection info
 * (*integrity: the bio carries metadata), then I/O accounting starts if the
 * queue wants it (*acct, *start). Returns the private_data of the disk the
 * bio was submitted to.
 */
void *btt_rs_bio_begin(struct bio *bio, bool *integrity, bool *acct,
		       unsigned long *start)
{
	unsigned int action = bio_integrity_action(bio);

	if (action)
		bio_integrity_prep(bio, action);
	*integrity = bio_integrity(bio) != NULL;
	*acct = blk_queue_io_stat(bio->bi_bdev->bd_disk->queue);
	*start = *acct ? bio_start_io_acct(bio) : 0;
	return bio->bi_bdev->bd_disk->private_data;
}

/* get_disk_ro() (static inline) of the disk the bio was submitted to. */
bool btt_rs_bio_disk_ro(struct bio *bio)
{
	return get_disk_ro(bio->bi_bdev->bd_disk);
}

/*
 * One step of bio_for_each_segment() over the bvec table @bvecs of a data
 * bio: stores the next single-page segment in @bv and advances @iter past
 * it; false when nothing is left. Only the KUnit test of the Rust iterator
 * (kernel_ext/block/bio.rs) calls it, as the reference.
 */
bool btt_rs_bvec_iter_step(const struct bio_vec *bvecs, struct bvec_iter *iter,
			   struct bio_vec *bv)
{
	if (!iter->bi_size)
		return false;
	*bv = bvec_iter_bvec(bvecs, *iter);
	iter->bi_sector += bv->bv_len >> 9;
	bvec_iter_advance_single(bvecs, iter, bv->bv_len);
	return true;
}

/*
 * Copies the next @len bytes of the bio's integrity metadata into @buf (for a
 * write) or from @buf (for a read), and advances the integrity iterator: the
 * walk of the C driver's btt_rw_integrity(), with a buffer in place of the
 * media.
 */
int btt_rs_bio_integrity_copy(struct bio *bio, void *buf, unsigned int len,
			      bool to_buf)
{
#ifdef CONFIG_BLK_DEV_INTEGRITY
	struct bio_integrity_payload *bip = bio_integrity(bio);

	if (!bip)
		return 0;
	while (len) {
		struct bio_vec bv = bvec_iter_bvec(bip->bip_vec, bip->bip_iter);
		unsigned int cur = min(len, bv.bv_len);
		void *mem = bvec_kmap_local(&bv);

		if (to_buf)
			memcpy(buf, mem, cur);
		else
			memcpy(mem, buf, cur);
		kunmap_local(mem);
		len -= cur;
		buf += cur;
		if (!bvec_iter_advance(bip->bip_vec, &bip->bip_iter, cur))
			return -EIO;
	}
#endif
	return 0;
}

/*
 * Read tracking table waits (wait_var_event() and wake_up_var() are macros or
 * need the barrier spelled out). A writer about to reuse a free block sleeps
 * until no reader copies from it, instead of spinning as C does; the reader
 * wakes it when it empties its slot.
 */
void btt_rs_rtt_wait(u32 *slot, u32 busy)
{
	wait_var_event(slot, READ_ONCE(*slot) != busy);
}

/* memalloc_noio_save() and memalloc_noio_restore() (static inline). */
unsigned int btt_rs_memalloc_noio_save(void)
{
	return memalloc_noio_save();
}

void btt_rs_memalloc_noio_restore(unsigned int flags)
{
	memalloc_noio_restore(flags);
}

void btt_rs_rtt_wake(u32 *slot)
{
	/* Orders the slot's store before the waitqueue_active() check. */
	smp_mb();
	wake_up_var(slot);
}

/*
 * The copy half of nsio_rw_bytes() for a write whose nvdimm_flush() comes
 * later, once for several writes (NamespaceIo::write_unfenced). Copies
 * nothing and returns false if the range holds known poison: the caller then
 * writes through rw_bytes, which clears what it can. The range is checked by
 * the caller against nsio->size.
 */
bool btt_rs_nsio_write_unfenced(struct nd_namespace_io *nsio, u64 offset,
				const void *buf, size_t size)
{
	unsigned int sz_align = ALIGN(size + (offset & (512 - 1)), 512);

	if (unlikely(is_bad_pmem(&nsio->bb, offset >> 9, sz_align)))
		return false;
	memcpy_flushcache(nsio->addr + offset, buf, size);
	return true;
}

#ifdef BTT_KCSAN_CANARY
/*
 * The positive control of `make kcsan` (scripts/kcsan.sh), never in a real
 * build: only BTT_KCSAN_CANARY=1 (Kbuild) defines BTT_KCSAN_CANARY, and
 * renames the btt_rs_bio_begin() above to btt_rs_bio_begin_uncanaried(), so
 * that Rust calls this one. Every bio, on every CPU, does a plain unlocked
 * read-modify-write of one global: a data race on purpose, which KCSAN must
 * report in btt_rs_race_canary(), or its silence on the real suites proves
 * nothing. No "kcsan_" in the name: KCSAN leaves such frames out of its
 * reports as its own runtime's. It sits below everything else so that a
 * default build is byte for byte what it was (might_sleep() above records its
 * __LINE__).
 */
static unsigned long btt_rs_race_canary_bios;

static noinline void btt_rs_race_canary(void)
{
	btt_rs_race_canary_bios++;
}

#undef btt_rs_bio_begin
void *btt_rs_bio_begin(struct bio *bio, bool *integrity, bool *acct,
		       unsigned long *start);

void *btt_rs_bio_begin(struct bio *bio, bool *integrity, bool *acct,
		       unsigned long *start)
{
	btt_rs_race_canary();
	return btt_rs_bio_begin_uncanaried(bio, integrity, acct, start);
}
#endif
