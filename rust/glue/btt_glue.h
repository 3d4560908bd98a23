/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between the C glue (btt_glue.c) and the Rust side of btt_rs.
 * Kbuild generates their Rust declarations with bindgen (rust/kernel_ext/glue.rs).
 */
#ifndef BTT_RS_GLUE_H
#define BTT_RS_GLUE_H

#include <linux/types.h>

struct bio;
struct bio_vec;
struct bvec_iter;
struct nd_btt;
struct nd_namespace_common;
struct nd_namespace_io;

/* Implemented in Rust (rust/driver/btt_rs.rs), called by the two exports. */
int btt_rs_attach(struct nd_namespace_common *ndns);
int btt_rs_detach(struct nd_btt *nd_btt);

/* Implemented in C (btt_glue.c), called from Rust. */
int btt_rs_bio_integrity_copy(struct bio *bio, void *buf, unsigned int len,
			      bool to_buf);
void *btt_rs_bio_begin(struct bio *bio, bool *integrity, bool *acct,
		       unsigned long *start);
bool btt_rs_bio_disk_ro(struct bio *bio);

bool btt_rs_bvec_iter_step(const struct bio_vec *bvecs, struct bvec_iter *iter,
			   struct bio_vec *bv);
bool btt_rs_nsio_write_unfenced(struct nd_namespace_io *nsio, u64 offset,
				const void *buf, size_t size);
unsigned int btt_rs_memalloc_noio_save(void);
void btt_rs_memalloc_noio_restore(unsigned int flags);
void btt_rs_rtt_wait(u32 *slot, u32 busy);
void btt_rs_rtt_wake(u32 *slot);

#endif /* BTT_RS_GLUE_H */
