/*
 * A struct thinsnap_io (base/io.h) for tests. Failure mode: the n-th pwrite or sync fails
 * with err (a failing pwrite may first write part of its buffer). Crash mode: writes are held
 * until their file is synced; the crash_at-th sync "loses power": a random subset of the held
 * writes reaches the file, the last one torn or garbled, and every later call fails with -EIO.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/io.h"

struct crashio_write {
	int fd;
	off_t off;
	size_t len;
	unsigned char *data;
};

struct crashio {
	struct thinsnap_io io;
	long fail_write_at; /* 1-based; 0 = never */
	long fail_sync_at;
	int err;       /* e.g. -ENOSPC */
	bool partial;  /* a failing write writes half first */
	long crash_at; /* 1-based sync count; 0 = no crash mode */
	unsigned seed;
	bool real_sync; /* also fsync for real (off: durability is simulated, tests run fast) */
	long writes;
	long syncs;
	bool dead;
	struct crashio_write *held;
	size_t n_held;
};

void crashio_init(struct crashio *c);
void crashio_done(struct crashio *c);
