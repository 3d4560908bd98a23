// SPDX-License-Identifier: GPL-2.0
/*
 * pcwriter: the guest half of the btt-rs power-cut test.
 *
 *   pcwriter write DEV NSECT SEED LOG [THREADS [BATCH]]
 *   pcwriter verify DEV NSECT LOG [--record]
 *   pcwriter compact LOG
 *
 * write: writes random sectors in [0, NSECT) of DEV forever, with
 * O_DIRECT|O_SYNC, one sector per write (the sector size is the device's,
 * BLKSSZGET). Every sector written carries its own identity: a magic, its
 * sector number, a 64-bit generation (a per-sector counter) and an FNV-1a
 * checksum of the whole sector; the rest of the sector is filled with bytes
 * derived from (sector, generation), so a sector that is half old, half new
 * is caught. Before each write "S <sector> <gen>" (intent) is appended to LOG,
 * after the write is acknowledged "A <sector> <gen>". LOG is opened
 * O_APPEND|O_SYNC and is meant to live on the host (9p), so it is complete up
 * to the moment the guest dies. Generations continue from what LOG holds, so
 * they keep growing across boots. THREADS writers (default 4) own the sectors
 * s with s % THREADS == t, so several writes are in flight at a cut. A 9p
 * append costs far more than a BTT write, so each writer works in rounds of
 * BATCH sectors (default 16): one append with the acks of the last round and
 * the intents of this one, then the BATCH writes.
 *
 * verify: reads every sector in [0, NSECT) and classifies it against LOG:
 *   zero     never written; allowed only if no write of it was acknowledged
 *   valid    a good identity with its own sector number and a generation g,
 *            acked <= g <= intended, and g not a generation an earlier verify
 *            saw fail to land
 *   torn     bad magic, checksum, sector number or fill (mixed content)
 *   lost     a generation older than the last acknowledged one
 *   future   a generation newer than the last intent
 *   stale    a generation an earlier verify saw not land, landed later
 *   ioerr    the read failed
 * With --record the outcome of every unacknowledged write is appended to LOG:
 * "R <sector> <gen>" when it landed (it must stay from now on, as if acked),
 * "D <sector> <gen>" when it did not (it must never appear later).
 * Prints "# pcverify:" diagnostics and one "PCVERIFY key=value ..." summary;
 * exits 1 on any torn, lost, future, stale or ioerr sector, 2 on usage errors.
 *
 * compact: rewrites LOG (on the host, between boots) to its per-sector state:
 * the last intent, the last ack (folding R in) and the dead generations.
 *
 * Any file may stand in for DEV (PCWRITER_SS sets the sector size then, 4096
 * by default); PCWRITER_COUNT=N makes each writer thread stop after N writes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAGIC 0x3130545257435043ULL /* "PCWRTR01" little-endian */
#define HDR 40			    /* magic, sector, gen, sector size, checksum */
#define MAX_DETAIL 20		    /* diagnostics printed per category */

struct hdr {
	uint64_t magic, sector, gen, ss, sum;
};

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pcwriter: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < n; i++) {
		/* the checksum field itself counts as zero */
		h ^= (i >= 32 && i < 40) ? 0 : p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The fill of (sector, gen) from byte HDR on. */
static void fill(unsigned char *buf, size_t ss, uint64_t sector, uint64_t gen)
{
	uint64_t st = sector * 0xd1b54a32d192ed03ULL ^ gen * 0xabc98388fb8fac03ULL ^ MAGIC;

	for (size_t i = HDR; i < ss; i += 8) {
		uint64_t v = splitmix(&st);

		memcpy(buf + i, &v, ss - i < 8 ? ss - i : 8);
	}
}

static void make_sector(unsigned char *buf, size_t ss, uint64_t sector, uint64_t gen)
{
	struct hdr h = { MAGIC, sector, gen, ss, 0 };

	memcpy(buf, &h, HDR);
	fill(buf, ss, sector, gen);
	h.sum = fnv1a(buf, ss);
	memcpy(buf + 32, &h.sum, 8);
}

/* ---- the log ----------------------------------------------------------- */

struct dead {
	uint64_t sector, gen;
};

struct state {
	uint64_t nsect;		/* sectors tracked (grows in compact mode) */
	uint64_t *intent;	/* last intended generation, 0 = none */
	uint64_t *acked;	/* last acknowledged (or recorded landed) generation */
	struct dead *dead;
	size_t ndead, capdead;
	uint64_t lines[4];	/* S, A, R, D lines read */
	uint64_t bad;		/* malformed lines (a torn tail) */
	int tail_open;		/* the file does not end in a newline */
};

static void st_grow(struct state *st, uint64_t n)
{
	if (n <= st->nsect)
		return;
	st->intent = realloc(st->intent, n * sizeof(uint64_t));
	st->acked = realloc(st->acked, n * sizeof(uint64_t));
	if (!st->intent || !st->acked)
		die("out of memory for %" PRIu64 " sectors", n);
	memset(st->intent + st->nsect, 0, (n - st->nsect) * sizeof(uint64_t));
	memset(st->acked + st->nsect, 0, (n - st->nsect) * sizeof(uint64_t));
	st->nsect = n;
}

static int cmp_dead(const void *a, const void *b)
{
	const struct dead *x = a, *y = b;

	if (x->sector != y->sector)
		return x->sector < y->sector ? -1 : 1;
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

/* st->dead is sorted and unique once read_log() is done. */
static int is_dead(const struct state *st, uint64_t sector, uint64_t gen)
{
	struct dead key = { sector, gen };

	return st->ndead && bsearch(&key, st->dead, st->ndead, sizeof(key), cmp_dead);
}

static void add_dead(struct state *st, uint64_t sector, uint64_t gen)
{
	if (st->ndead == st->capdead) {
		st->capdead = st->capdead ? 2 * st->capdead : 64;
		st->dead = realloc(st->dead, st->capdead * sizeof(*st->dead));
		if (!st->dead)
			die("out of memory");
	}
	st->dead[st->ndead++] = (struct dead){ sector, gen };
}

/* Parses "X <u64> <u64>"; 0 if the line is anything else. */
static int parse_line(const char *p, const char *end, char *kind, uint64_t *a, uint64_t *b)
{
	uint64_t v[2];

	if (end - p < 5 || !strchr("SARD", p[0]) || p[1] != ' ')
		return 0;
	*kind = p[0];
	p += 2;
	for (int k = 0; k < 2; k++) {
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		v[k] = 0;
		while (p < end && *p >= '0' && *p <= '9')
			v[k] = v[k] * 10 + (uint64_t)(*p++ - '0');
		if (k == 0 && (p >= end || *p++ != ' '))
			return 0;
	}
	if (p != end)
		return 0;
	*a = v[0];
	*b = v[1];
	return 1;
}

/*
 * Reads LOG into st. fixed_nsect != 0: sectors must be below it (another
 * namespace's log is an error); 0: st grows to whatever the log names.
 */
static void read_log(const char *path, struct state *st, uint64_t fixed_nsect)
{
	int fd = open(path, O_RDONLY);
	struct stat sb;
	char *buf;
	size_t len = 0;

	if (fixed_nsect)
		st_grow(st, fixed_nsect);
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		die("cannot open %s: %s", path, strerror(errno));
	}
	if (fstat(fd, &sb))
		die("stat %s: %s", path, strerror(errno));
	buf = malloc(sb.st_size + 1);
	if (!buf)
		die("out of memory for the log");
	while (len < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + len, sb.st_size - len);

		if (r < 0)
			die("read %s: %s", path, strerror(errno));
		if (r == 0)
			break;
		len += r;
	}
	close(fd);
	st->tail_open = len > 0 && buf[len - 1] != '\n';
	for (char *p = buf, *nl; p < buf + len; p = nl + 1) {
		char kind;
		uint64_t s, g;

		nl = memchr(p, '\n', buf + len - p);
		if (!nl) {
			/* an unfinished last line: its write never returned */
			st->bad++;
			break;
		}
		if (!parse_line(p, nl, &kind, &s, &g)) {
			st->bad++;
			continue;
		}
		if (fixed_nsect && s >= fixed_nsect)
			die("%s names sector %" PRIu64 ", beyond NSECT %" PRIu64, path, s, fixed_nsect);
		st_grow(st, s + 1);
		switch (kind) {
		case 'S':
			st->lines[0]++;
			if (g > st->intent[s])
				st->intent[s] = g;
			break;
		case 'A':
		case 'R':
			st->lines[kind == 'A' ? 1 : 2]++;
			if (g > st->acked[s])
				st->acked[s] = g;
			break;
		case 'D':
			st->lines[3]++;
			add_dead(st, s, g);
			break;
		}
	}
	free(buf);
	/* sorted and unique; a dead generation at or below the last ack is moot */
	qsort(st->dead, st->ndead, sizeof(*st->dead), cmp_dead);
	size_t n = 0;
	for (size_t i = 0; i < st->ndead; i++) {
		struct dead d = st->dead[i];

		if (d.gen <= st->acked[d.sector] || (n && !cmp_dead(&st->dead[n - 1], &d)))
			continue;
		st->dead[n++] = d;
	}
	st->ndead = n;
}

static int open_log_append(const char *path, const struct state *st)
{
	int sync = getenv("PCWRITER_LOG_NOSYNC") ? 0 : O_SYNC; /* for measurements only */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | sync, 0644);

	if (fd < 0)
		die("cannot open %s for appending: %s", path, strerror(errno));
	/* close a torn last line, so the next entry starts on its own line */
	if (st->tail_open && write(fd, "\n", 1) != 1)
		die("write %s: %s", path, strerror(errno));
	return fd;
}

/* One line, in one write: O_APPEND keeps the lines of concurrent threads whole. */
static void log_line(int fd, char kind, uint64_t s, uint64_t g)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%c %" PRIu64 " %" PRIu64 "\n", kind, s, g);

	if (write(fd, line, n) != n)
		die("appending to the log: %s", strerror(errno));
}

/* ---- the device ------------------------------------------------------------- */

static int open_dev(const char *path, int flags, size_t *ss, uint64_t nsect)
{
	int fd = open(path, flags | O_DIRECT);
	struct stat sb;
	uint64_t bytes = 0;
	int lbs;

	if (fd < 0)
		die("cannot open %s: %s", path, strerror(errno));
	if (fstat(fd, &sb))
		die("stat %s: %s", path, strerror(errno));
	if (S_ISBLK(sb.st_mode)) {
		if (ioctl(fd, BLKSSZGET, &lbs) || ioctl(fd, BLKGETSIZE64, &bytes))
			die("%s: BLKSSZGET/BLKGETSIZE64: %s", path, strerror(errno));
		*ss = lbs;
	} else {
		const char *e = getenv("PCWRITER_SS");

		*ss = e ? strtoul(e, NULL, 0) : 4096;
		bytes = sb.st_size;
	}
	if (*ss < 512 || *ss % 8)
		die("%s: odd sector size %zu", path, *ss);
	if (nsect * *ss > bytes)
		die("%s: %" PRIu64 " sectors of %zu bytes do not fit in %" PRIu64 " bytes", path, nsect,
		    *ss, bytes);
	return fd;
}

static void *abuf(size_t n)
{
	void *p;

	if (posix_memalign(&p, 4096, n))
		die("out of memory");
	return p;
}

/* ---- write ------------------------------------------------------------------- */

struct writer {
	pthread_t tid;
	int t, nthreads, batch, devfd, logfd;
	size_t ss;
	uint64_t nsect, seed, count;
	uint64_t ns_dev, ns_log; /* time spent writing the device, the log */
	struct state *st;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

#define MAX_BATCH 64

/*
 * A writer thread. Each round takes BATCH sectors, logs the acks of the last
 * round and the intents of this one in a single append (one 9p round trip),
 * then writes the sectors one by one: the more device writes per round trip,
 * the likelier a cut falls inside one.
 */
static void *write_loop(void *arg)
{
	struct writer *w = arg;
	unsigned char *buf = abuf(w->ss);
	uint64_t rng = w->seed ^ ((uint64_t)w->t << 56);
	uint64_t mine = (w->nsect - w->t + w->nthreads - 1) / w->nthreads;
	uint64_t sec[MAX_BATCH], gen[MAX_BATCH];
	char lines[2 * MAX_BATCH * 48];
	int nack = 0; /* sec/gen[0, nack) are acknowledged, not logged yet */

	for (uint64_t n = 0; !w->count || n < w->count; n += w->batch) {
		int nb = w->count && w->count - n < (uint64_t)w->batch ? (int)(w->count - n) : w->batch;
		uint64_t t0, t1;
		size_t len = 0;

		for (int k = 0; k < nack; k++)
			len += sprintf(lines + len, "A %" PRIu64 " %" PRIu64 "\n", sec[k], gen[k]);
		for (int k = 0; k < nb; k++) {
			uint64_t s = w->t + w->nthreads * (splitmix(&rng) % mine);
			uint64_t g = w->st->intent[s] + 1;

			if (w->st->acked[s] >= g)
				g = w->st->acked[s] + 1;
			w->st->intent[s] = g;
			sec[k] = s;
			gen[k] = g;
			len += sprintf(lines + len, "S %" PRIu64 " %" PRIu64 "\n", s, g);
		}
		t0 = now_ns();
		if (write(w->logfd, lines, len) != (ssize_t)len)
			die("appending to the log: %s", strerror(errno));
		w->ns_log += now_ns() - t0;
		for (int k = 0; k < nb; k++) {
			ssize_t r;

			make_sector(buf, w->ss, sec[k], gen[k]);
			t0 = now_ns();
			r = pwrite(w->devfd, buf, w->ss, (off_t)(sec[k] * w->ss));
			t1 = now_ns();
			if (r != (ssize_t)w->ss) {
				fprintf(stderr, "pcwriter: writing sector %" PRIu64 " gen %" PRIu64 ": %s\n",
					sec[k], gen[k], r < 0 ? strerror(errno) : "short write");
				exit(1);
			}
			w->st->acked[sec[k]] = gen[k];
			w->ns_dev += t1 - t0;
		}
		nack = nb;
	}
	for (int k = 0; k < nack; k++)
		log_line(w->logfd, 'A', sec[k], gen[k]);
	free(buf);
	return NULL;
}

static int do_write(int argc, char **argv)
{
	struct state st = { 0 };
	uint64_t nsect, seed, count;
	int nthreads = 4, batch = 16, devfd, logfd;
	struct writer *w;
	size_t ss;

	if (argc < 6 || argc > 8)
		die("usage: pcwriter write DEV NSECT SEED LOG [THREADS [BATCH]]");
	nsect = strtoull(argv[3], NULL, 0);
	seed = strtoull(argv[4], NULL, 0);
	if (argc >= 7)
		nthreads = atoi(argv[6]);
	if (argc == 8)
		batch = atoi(argv[7]);
	count = getenv("PCWRITER_COUNT") ? strtoull(getenv("PCWRITER_COUNT"), NULL, 0) : 0;
	if (!nsect || nthreads < 1 || (uint64_t)nthreads > nsect || nthreads > 64 || batch < 1 ||
	    batch > MAX_BATCH)
		die("bad NSECT, THREADS or BATCH");
	read_log(argv[5], &st, nsect);
	devfd = open_dev(argv[2], O_RDWR | O_SYNC, &ss, nsect);
	logfd = open_log_append(argv[5], &st);
	printf("pcwriter: writing %" PRIu64 " sectors of %zu bytes on %s, %d threads, batches of %d,"
	       " seed %" PRIu64
	       "; log %s: %" PRIu64 " intents, %" PRIu64 " acks, %" PRIu64 " recorded, %" PRIu64
	       " dead, %" PRIu64 " malformed lines\n",
	       nsect, ss, argv[2], nthreads, batch, seed, argv[5], st.lines[0], st.lines[1], st.lines[2],
	       st.lines[3], st.bad);
	fflush(stdout);
	w = calloc(nthreads, sizeof(*w));
	for (int t = 0; t < nthreads; t++) {
		w[t] = (struct writer){ .t = t, .nthreads = nthreads, .batch = batch, .devfd = devfd,
					.logfd = logfd,
					.ss = ss, .nsect = nsect, .seed = seed, .count = count, .st = &st };
		if (pthread_create(&w[t].tid, NULL, write_loop, &w[t]))
			die("pthread_create failed");
	}
	for (int t = 0; t < nthreads; t++) {
		pthread_join(w[t].tid, NULL);
		printf("pcwriter: thread %d: %" PRIu64 " writes, %" PRIu64 " us per device write, %" PRIu64
		       " us per log append of a batch\n", t, count, w[t].ns_dev / 1000 / count,
		       w[t].ns_log / 1000 / ((count + batch - 1) / batch));
	}
	return 0;
}

/* ---- verify ------------------------------------------------------------------ */

enum { ZERO, VALID, TORN, LOST, FUTURE, STALE, IOERR, LANDED, NOT_LANDED, NCLASS };
static const char *const cname[NCLASS] = { "zero",   "valid", "torn",  "lost",	     "future",
					   "stale",  "ioerr", "landed", "not_landed" };
static uint64_t count[NCLASS];

static void detail(int cls, const char *fmt, ...)
{
	va_list ap;

	if (count[cls] > MAX_DETAIL)
		return;
	va_start(ap, fmt);
	if (count[cls] == MAX_DETAIL)
		printf("# pcverify: more %s sectors not shown\n", cname[cls]);
	else {
		printf("# pcverify: %s: ", cname[cls]);
		vprintf(fmt, ap);
		putchar('\n');
	}
	va_end(ap);
}

/* What each 512-byte piece of a bad sector looks like, e.g. "N N Z ?". */
static void describe_pieces(const unsigned char *buf, size_t ss, uint64_t s, uint64_t g_hdr,
			    uint64_t acked, char *out, size_t outlen)
{
	unsigned char *a = abuf(ss), *b = abuf(ss);
	size_t o = 0;

	make_sector(a, ss, s, g_hdr);
	make_sector(b, ss, s, acked);
	for (size_t p = 0; p < ss && o + 3 < outlen; p += 512) {
		char c = '?';
		int zero = 1;

		for (size_t i = p; i < p + 512; i++)
			zero &= !buf[i];
		if (!memcmp(buf + p, a + p, 512))
			c = 'H'; /* matches the generation in the header */
		else if (acked && !memcmp(buf + p, b + p, 512))
			c = 'A'; /* matches the last acknowledged generation */
		else if (zero)
			c = 'Z';
		out[o++] = c;
	}
	out[o] = 0;
	free(a);
	free(b);
}

static int do_verify(int argc, char **argv)
{
	struct state st = { 0 };
	int record = argc == 6 && !strcmp(argv[5], "--record");
	uint64_t nsect, chunk;
	unsigned char *buf, *want;
	int devfd, logfd = -1;
	size_t ss;

	if (argc != 5 && !record)
		die("usage: pcwriter verify DEV NSECT LOG [--record]");
	nsect = strtoull(argv[3], NULL, 0);
	if (!nsect)
		die("bad NSECT");
	read_log(argv[4], &st, nsect);
	devfd = open_dev(argv[2], O_RDONLY, &ss, nsect);
	if (record)
		logfd = open_log_append(argv[4], &st);
	chunk = (1 << 20) / ss;
	buf = abuf(chunk * ss);
	want = abuf(ss);
	for (uint64_t base = 0; base < nsect; base += chunk) {
		uint64_t n = nsect - base < chunk ? nsect - base : chunk;
		ssize_t r = pread(devfd, buf, n * ss, (off_t)(base * ss));
		int one_by_one = r != (ssize_t)(n * ss);

		for (uint64_t i = 0; i < n; i++) {
			uint64_t s = base + i, a = st.acked[s], in = st.intent[s], g = 0;
			unsigned char *p = buf + i * ss;
			struct hdr h;
			int zero = 1, cls;

			if (one_by_one && pread(devfd, p, ss, (off_t)(s * ss)) != (ssize_t)ss) {
				detail(IOERR, "sector %" PRIu64 ": %s", s, strerror(errno));
				count[IOERR]++;
				continue;
			}
			for (size_t k = 0; k < ss && zero; k += 8)
				zero = !*(uint64_t *)(p + k);
			memcpy(&h, p, HDR);
			if (zero) {
				cls = a ? LOST : ZERO;
				if (a)
					detail(LOST, "sector %" PRIu64 " reads all zero, gen %" PRIu64
						     " was acknowledged", s, a);
			} else {
				make_sector(want, ss, s, h.gen);
				if (h.magic != MAGIC || h.sector != s || h.ss != ss || memcmp(p, want, ss)) {
					char pieces[32];

					cls = TORN;
					describe_pieces(p, ss, s, h.gen, a, pieces, sizeof(pieces));
					detail(TORN,
					       "sector %" PRIu64 ": magic %s, header sector %" PRIu64
					       " gen %" PRIu64 ", checksum %s, 512-byte pieces [%s] "
					       "(H header's gen, A last acked gen %" PRIu64
					       ", Z zero, ? other); last intent %" PRIu64,
					       s, h.magic == MAGIC ? "ok" : "bad", h.sector, h.gen,
					       fnv1a(p, ss) == h.sum ? "ok" : "bad", pieces, a, in);
				} else if ((g = h.gen) < a) {
					cls = LOST;
					detail(LOST, "sector %" PRIu64 " has gen %" PRIu64 ", gen %" PRIu64
						     " was acknowledged", s, g, a);
				} else if (g > in) {
					cls = FUTURE;
					detail(FUTURE, "sector %" PRIu64 " has gen %" PRIu64
						       ", the last intent was %" PRIu64, s, g, in);
				} else if (g > a && is_dead(&st, s, g)) {
					cls = STALE;
					detail(STALE, "sector %" PRIu64 " has gen %" PRIu64
						      ", seen not landed by an earlier verify", s, g);
				} else {
					cls = VALID;
				}
			}
			count[cls]++;
			if (cls != VALID && cls != ZERO)
				continue;
			/* the writes in flight at the cut: landed or not, for good */
			if (in > a && !is_dead(&st, s, in)) {
				if (g > a) {
					count[LANDED]++;
					if (record)
						log_line(logfd, 'R', s, g);
				} else {
					count[NOT_LANDED]++;
				}
				for (uint64_t d = (g > a ? g : a) + 1; record && d <= in; d++)
					if (!is_dead(&st, s, d))
						log_line(logfd, 'D', s, d);
			}
		}
	}
	printf("PCVERIFY sectors=%" PRIu64 " sector_size=%zu", nsect, ss);
	for (int c = 0; c < NCLASS; c++)
		printf(" %s=%" PRIu64, cname[c], count[c]);
	printf(" log_intents=%" PRIu64 " log_acks=%" PRIu64 " log_malformed=%" PRIu64 "\n",
	       st.lines[0], st.lines[1], st.bad);
	return count[TORN] || count[LOST] || count[FUTURE] || count[STALE] || count[IOERR];
}

/* ---- compact ----------------------------------------------------------------- */

static int do_compact(int argc, char **argv)
{
	struct state st = { 0 };
	char tmp[4096];
	FILE *f;

	if (argc != 3)
		die("usage: pcwriter compact LOG");
	read_log(argv[2], &st, 0);
	snprintf(tmp, sizeof(tmp), "%s.tmp", argv[2]);
	f = fopen(tmp, "w");
	if (!f)
		die("cannot write %s: %s", tmp, strerror(errno));
	for (uint64_t s = 0; s < st.nsect; s++) {
		if (st.intent[s])
			fprintf(f, "S %" PRIu64 " %" PRIu64 "\n", s, st.intent[s]);
		if (st.acked[s])
			fprintf(f, "A %" PRIu64 " %" PRIu64 "\n", s, st.acked[s]);
	}
	for (size_t i = 0; i < st.ndead; i++)
		fprintf(f, "D %" PRIu64 " %" PRIu64 "\n", st.dead[i].sector, st.dead[i].gen);
	if (fflush(f) || fsync(fileno(f)) || fclose(f) || rename(tmp, argv[2]))
		die("writing %s: %s", argv[2], strerror(errno));
	printf("PCLOG intents=%" PRIu64 " acks=%" PRIu64 " recorded=%" PRIu64 " dead=%zu malformed=%" PRIu64
	       "\n", st.lines[0], st.lines[1], st.lines[2], st.ndead, st.bad);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "write"))
		return do_write(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "verify"))
		return do_verify(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "compact"))
		return do_compact(argc, argv);
	die("usage: pcwriter write DEV NSECT SEED LOG [THREADS] | verify DEV NSECT LOG [--record] | "
	    "compact LOG");
	return 2;
}
