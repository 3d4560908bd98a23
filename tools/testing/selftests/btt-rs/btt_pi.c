// SPDX-License-Identifier: GPL-2.0
/*
 * btt_pi: per-sector integrity metadata from user space on a block device,
 * through the interfaces Linux 7.3 offers for it:
 *
 *   - FS_IOC_GETLBMD_CAP (struct logical_block_metadata_cap): what metadata
 *     the device has, per interval;
 *   - io_uring read/write with the PI attribute (sqe->attr_type_mask =
 *     IORING_RW_ATTR_FLAG_PI, sqe->attr_ptr -> struct io_uring_attr_pi): a
 *     metadata buffer beside the data buffer, O_DIRECT only.
 *
 * Built by scripts/mkinitramfs.sh against the UAPI headers of the kernel tree
 * the guest runs (`make headers`), statically, and put in the guest's /usr/bin.
 * io_uring is driven with the raw system calls (no liburing: bookworm's is older
 * than the PI attribute).
 *
 * Data and metadata are a pure function of (seed, lba, byte), so a reader (the
 * other driver, another boot) checks them without any file: every sector and
 * every metadata byte differs from its neighbours, so metadata landing on the
 * wrong sector is caught.
 *
 * Usage:
 *   btt_pi cap DEV
 *   btt_pi write DEV LBA COUNT SEED [options]
 *   btt_pi read DEV LBA COUNT SEED [options]
 * Options:
 *   --no-pi             plain O_DIRECT I/O without the PI attribute
 *   --zero-meta         (read) expect all-zero metadata instead of SEED's
 *   --zero-data         (read) expect all-zero data instead of SEED's
 *   --prefill B         (read) fill the data and metadata buffers with byte B
 *                       first, so that a driver that leaves part of them
 *                       untouched cannot pass for one that read zeroes there
 *   --meta-size N       metadata bytes per interval (default: from the device)
 *   --meta-len N        length of the metadata buffer (default: what COUNT needs)
 *   --meta-offset N     put the metadata buffer N bytes into a page (default 0)
 *   --flags N           io_uring_attr_pi.flags (IO_INTEGRITY_CHK_*)
 *   --buffered          open without O_DIRECT
 *   --expect-errno E    succeed only if the I/O fails with E (EINVAL,
 *                       EOPNOTSUPP, EIO or a number)
 * Output: one line per command; exit 0 on success (data and metadata as
 * expected), 1 on a mismatch or an unexpected result, 2 on a usage or setup
 * error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/fs.h>
#include <linux/io_uring.h>

#ifndef IORING_RW_ATTR_FLAG_PI
#error "these UAPI headers have no io_uring PI attribute: build against the 7.3 tree's (make headers)"
#endif

struct ring {
	int fd;
	unsigned int *sq_tail, *sq_mask, *sq_array;
	unsigned int *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void die(const char *what)
{
	fprintf(stderr, "btt_pi: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void ring_init(struct ring *r)
{
	struct io_uring_params p;
	size_t sq_len, cq_len;
	char *sq, *cq;

	memset(&p, 0, sizeof(p));
	r->fd = syscall(__NR_io_uring_setup, 4, &p);
	if (r->fd < 0)
		die("io_uring_setup");
	sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		if (cq_len > sq_len)
			sq_len = cq_len;
		cq_len = sq_len;
	}
	sq = mmap(NULL, sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE,
		  r->fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		die("mmap sq ring");
	if (p.features & IORING_FEAT_SINGLE_MMAP) {
		cq = sq;
	} else {
		cq = mmap(NULL, cq_len, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_POPULATE, r->fd, IORING_OFF_CQ_RING);
		if (cq == MAP_FAILED)
			die("mmap cq ring");
	}
	r->sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (r->sqes == MAP_FAILED)
		die("mmap sqes");
	r->sq_tail = (unsigned int *)(sq + p.sq_off.tail);
	r->sq_mask = (unsigned int *)(sq + p.sq_off.ring_mask);
	r->sq_array = (unsigned int *)(sq + p.sq_off.array);
	r->cq_head = (unsigned int *)(cq + p.cq_off.head);
	r->cq_tail = (unsigned int *)(cq + p.cq_off.tail);
	r->cq_mask = (unsigned int *)(cq + p.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
}

/* Submits one read or write and waits for it; returns cqe->res. */
static int ring_rw(struct ring *r, int write, int fd, void *buf, size_t len,
		   uint64_t off, struct io_uring_attr_pi *pi)
{
	unsigned int tail = *r->sq_tail, idx = tail & *r->sq_mask, head;
	struct io_uring_sqe *sqe = &r->sqes[idx];
	int res;

	memset(sqe, 0, sizeof(*sqe));
	sqe->opcode = write ? IORING_OP_WRITE : IORING_OP_READ;
	sqe->fd = fd;
	sqe->addr = (uintptr_t)buf;
	sqe->len = len;
	sqe->off = off;
	if (pi) {
		sqe->attr_ptr = (uintptr_t)pi;
		sqe->attr_type_mask = IORING_RW_ATTR_FLAG_PI;
	}
	r->sq_array[idx] = idx;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) < 0)
		die("io_uring_enter");
	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE)) {
		errno = EAGAIN;
		die("io_uring_enter returned without a completion");
	}
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res;
}

/* The byte at position i of a stream named by (seed, lba, kind). */
static uint64_t mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void fill(unsigned char *p, size_t n, uint64_t seed, uint64_t lba, int kind)
{
	uint64_t base = mix(seed * 0x9e3779b97f4a7c15ULL + lba * 2 + kind);
	size_t i;

	for (i = 0; i < n; i += 8) {
		uint64_t v = mix(base + i);
		size_t k;

		for (k = 0; k < 8 && i + k < n; k++)
			p[i + k] = v >> (8 * k);
	}
}

static int parse_errno(const char *s)
{
	if (!strcmp(s, "EINVAL"))
		return EINVAL;
	if (!strcmp(s, "EOPNOTSUPP"))
		return EOPNOTSUPP;
	if (!strcmp(s, "EIO"))
		return EIO;
	if (!strcmp(s, "E2BIG"))
		return E2BIG;
	return atoi(s);
}

static int get_cap(int fd, struct logical_block_metadata_cap *cap)
{
	memset(cap, 0, sizeof(*cap));
	return ioctl(fd, FS_IOC_GETLBMD_CAP, cap);
}

static int cmd_cap(const char *dev)
{
	struct logical_block_metadata_cap cap;
	int fd = open(dev, O_RDONLY);

	if (fd < 0)
		die(dev);
	if (get_cap(fd, &cap)) {
		printf("FS_IOC_GETLBMD_CAP %s: -%d (%s)\n", dev, errno, strerror(errno));
		return 1;
	}
	printf("flags=%u interval=%u size=%u opaque_size=%u opaque_offset=%u "
	       "pi_size=%u pi_offset=%u guard=%u app_tag_size=%u ref_tag_size=%u "
	       "storage_tag_size=%u\n",
	       cap.lbmd_flags, cap.lbmd_interval, cap.lbmd_size,
	       cap.lbmd_opaque_size, cap.lbmd_opaque_offset, cap.lbmd_pi_size,
	       cap.lbmd_pi_offset, cap.lbmd_guard_tag_type,
	       cap.lbmd_app_tag_size, cap.lbmd_ref_tag_size,
	       cap.lbmd_storage_tag_size);
	return 0;
}

static void *page_alloc(size_t len)
{
	void *p;

	if (posix_memalign(&p, 4096, len ? len : 1))
		die("posix_memalign");
	memset(p, 0, len);
	return p;
}

static int cmd_rw(int write, int argc, char **argv)
{
	int no_pi = 0, zero_meta = 0, zero_data = 0, prefill = 0, buffered = 0;
	int expect = 0, fd, res, i;
	long meta_size = -1, meta_len = -1, meta_off = 0, flags = 0;
	const char *dev = argv[0];
	uint64_t lba = strtoull(argv[1], NULL, 0);
	uint64_t count = strtoull(argv[2], NULL, 0);
	uint64_t seed = strtoull(argv[3], NULL, 0);
	struct logical_block_metadata_cap cap;
	struct io_uring_attr_pi pi;
	unsigned char *data, *meta, *want;
	unsigned int lbs;
	struct ring r;
	size_t len;
	uint64_t s;

	for (i = 4; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--no-pi")) {
			no_pi = 1;
		} else if (!strcmp(a, "--zero-meta")) {
			zero_meta = 1;
		} else if (!strcmp(a, "--zero-data")) {
			zero_data = 1;
		} else if (v && !strcmp(a, "--prefill")) {
			prefill = (int)strtol(v, NULL, 0), i++;
		} else if (!strcmp(a, "--buffered")) {
			buffered = 1;
		} else if (v && !strcmp(a, "--meta-size")) {
			meta_size = atol(v), i++;
		} else if (v && !strcmp(a, "--meta-len")) {
			meta_len = atol(v), i++;
		} else if (v && !strcmp(a, "--meta-offset")) {
			meta_off = atol(v), i++;
		} else if (v && !strcmp(a, "--flags")) {
			flags = strtol(v, NULL, 0), i++;
		} else if (v && !strcmp(a, "--expect-errno")) {
			expect = parse_errno(v), i++;
		} else {
			fprintf(stderr, "btt_pi: unknown option %s\n", a);
			return 2;
		}
	}

	fd = open(dev, (write ? O_RDWR : O_RDONLY) | (buffered ? 0 : O_DIRECT));
	if (fd < 0)
		die(dev);
	if (ioctl(fd, BLKSSZGET, &lbs))
		die("BLKSSZGET");
	/* A kernel without CONFIG_BLK_DEV_INTEGRITY has no such ioctl: no metadata. */
	if (get_cap(fd, &cap)) {
		fprintf(stderr, "btt_pi: FS_IOC_GETLBMD_CAP: %s (taken as no metadata)\n",
			strerror(errno));
		memset(&cap, 0, sizeof(cap));
	}
	if (meta_size < 0)
		meta_size = cap.lbmd_size;
	/* Metadata comes per interval; BTT's interval is the logical block. */
	if (cap.lbmd_interval && cap.lbmd_interval != lbs) {
		fprintf(stderr, "btt_pi: interval %u is not the block size %u\n",
			cap.lbmd_interval, lbs);
		return 2;
	}
	if (meta_len < 0)
		meta_len = count * meta_size;

	len = count * lbs;
	data = page_alloc(len);
	want = page_alloc(len + count * meta_size);
	meta = (unsigned char *)page_alloc(meta_off + meta_len) + meta_off;
	if (!write && prefill) {
		memset(data, prefill, len);
		memset(meta, prefill, meta_len);
	}
	if (write) {
		for (s = 0; s < count; s++) {
			fill(data + s * lbs, lbs, seed, lba + s, 0);
			if (meta_size)
				fill(meta + s * meta_size, meta_size, seed, lba + s, 1);
		}
	}
	memset(&pi, 0, sizeof(pi));
	pi.flags = flags;
	pi.len = meta_len;
	pi.addr = (uintptr_t)meta;
	pi.seed = lba;

	ring_init(&r);
	res = ring_rw(&r, write, fd, data, len, lba * lbs, no_pi ? NULL : &pi);
	printf("%s %s lba=%llu count=%llu lbs=%u meta=%ld/block meta_len=%ld%s: res=%d%s%s\n",
	       write ? "write" : "read", dev, (unsigned long long)lba,
	       (unsigned long long)count, lbs, meta_size, meta_len,
	       no_pi ? " (no PI attribute)" : "", res, res < 0 ? " " : "",
	       res < 0 ? strerror(-res) : "");
	if (expect) {
		if (res == -expect)
			return 0;
		printf("expected -%d (%s)\n", expect, strerror(expect));
		return 1;
	}
	if (res != (int)len) {
		printf("expected %zu bytes\n", len);
		return 1;
	}
	if (write)
		return 0;

	for (s = 0; s < count; s++) {
		if (zero_data)
			memset(want, 0, lbs);
		else
			fill(want, lbs, seed, lba + s, 0);
		if (memcmp(want, data + s * lbs, lbs)) {
			if (zero_data)
				printf("data of lba %llu is not all zeroes\n",
				       (unsigned long long)(lba + s));
			else
				printf("data of lba %llu differs from seed %llu's\n",
				       (unsigned long long)(lba + s),
				       (unsigned long long)seed);
			return 1;
		}
	}
	if (no_pi)
		return 0;
	for (s = 0; s < count; s++) {
		unsigned char *got = meta + s * meta_size;
		long b;

		if (zero_meta)
			memset(want, 0, meta_size);
		else
			fill(want, meta_size, seed, lba + s, 1);
		for (b = 0; b < meta_size; b++) {
			if (got[b] != want[b]) {
				printf("metadata of lba %llu byte %ld: 0x%02x, expected 0x%02x (%s)\n",
				       (unsigned long long)(lba + s), b, got[b], want[b],
				       zero_meta ? "zeroes" : "seed");
				return 1;
			}
		}
	}
	printf("data and %ld metadata bytes of %llu blocks as expected\n",
	       (long)(count * meta_size), (unsigned long long)count);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "cap"))
		return cmd_cap(argv[2]);
	if (argc >= 6 && !strcmp(argv[1], "write"))
		return cmd_rw(1, argc - 2, argv + 2);
	if (argc >= 6 && !strcmp(argv[1], "read"))
		return cmd_rw(0, argc - 2, argv + 2);
	fprintf(stderr, "usage: btt_pi cap DEV | btt_pi write|read DEV LBA COUNT SEED [options]\n");
	return 2;
}
