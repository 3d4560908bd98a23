// SPDX-License-Identifier: GPL-2.0
/*
 * iol: a bare O_DIRECT I/O loop for scripts/profile.sh. It does N preads or
 * pwrites of BS bytes (random or sequential offsets within SIZE bytes) and
 * calls marker(), linked at a fixed address (0x13370000), right before and
 * right after them: the host finds the two executions of that address in
 * QEMU's execution log and counts only what lies between (fio's own start-up
 * and bookkeeping stay outside). 50 unmeasured I/Os warm up first.
 *
 * Usage: iol DEV randread|randwrite|read|write BS N SIZE
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((noinline, section(".marker"))) void marker(void)
{
	__asm__ volatile("nop");
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: iol DEV randread|randwrite|read|write BS N SIZE\n");
		return 2;
	}
	const char *rw = argv[2];
	long bs = atol(argv[3]), n = atol(argv[4]), size = atol(argv[5]);
	int wr = strstr(rw, "write") != NULL, rnd = strstr(rw, "rand") != NULL;
	int fd = open(argv[1], (wr ? O_RDWR : O_RDONLY) | O_DIRECT);
	void *buf;

	if (fd < 0 || bs <= 0 || size < bs || posix_memalign(&buf, 4096, bs)) {
		perror("iol");
		return 1;
	}
	memset(buf, 0x5a, bs);
	long blocks = size / bs, pos = 0;
	uint64_t x = 88172645463325252ull; /* xorshift64: the same offsets every run */

	for (int measured = 0; measured < 2; measured++) {
		if (measured)
			marker();
		for (long i = 0; i < (measured ? n : 50); i++) {
			long b;

			if (rnd) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				b = x % blocks;
			} else {
				b = pos++ % blocks;
			}
			ssize_t r = wr ? pwrite(fd, buf, bs, b * bs) : pread(fd, buf, bs, b * bs);
			if (r != bs) {
				perror("iol: I/O");
				return 1;
			}
		}
		if (measured)
			marker();
	}
	return 0;
}
