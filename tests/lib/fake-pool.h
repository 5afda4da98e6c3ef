/*
 * An in-memory model of a dm-thin pool's state for root-free tests: which thin dev_ids exist
 * (24 bits), which are active, and the transaction id, under the kernel's rules. A crash point
 * makes every change from the n-th on fail with -EIO, as if the process died there.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FAKE_POOL_DEV_ID_LIMIT (1u << 24)
#define FAKE_POOL_MAX_DEVS     64

struct fake_pool_dev {
	uint32_t dev_id;
	uint32_t origin_id; /* UINT32_MAX: a fresh thin device */
	bool active;
};

struct fake_pool {
	uint64_t transaction_id;
	struct fake_pool_dev devs[FAKE_POOL_MAX_DEVS]; /* ascending dev_id */
	size_t n_devs;
	long changes;  /* successful changes so far */
	long crash_at; /* the change (0-based, counted by changes) that crashes; < 0: none */
	bool crashed;
};

/* An empty pool at transaction_id, no crash point. */
void fake_pool_init(struct fake_pool *p, uint64_t transaction_id);

/*
 * Changes: 0 or -errno. -EIO once crashed (nothing changes). -ERANGE: dev_id >= 2^24.
 * create_thin, create_snap: -EEXIST if dev_id is taken; create_snap: -ENOENT without origin.
 * delete: -ENOENT if absent, -EBUSY while active. activate: -ENOENT if absent, 0 if already
 * active. deactivate: 0 if absent or inactive. set_transaction_id: the kernel's
 * compare-and-swap, -ESTALE (nothing changes) unless the id is old_tid.
 */
int fake_pool_create_thin(struct fake_pool *p, uint32_t dev_id);
int fake_pool_create_snap(struct fake_pool *p, uint32_t dev_id, uint32_t origin_id);
int fake_pool_delete(struct fake_pool *p, uint32_t dev_id);
int fake_pool_activate(struct fake_pool *p, uint32_t dev_id);
int fake_pool_deactivate(struct fake_pool *p, uint32_t dev_id);
int fake_pool_set_transaction_id(struct fake_pool *p, uint64_t old_tid, uint64_t new_tid);

/* The n-th change from now (0-based) crashes, and so does every later one; n < 0: none. */
void fake_pool_crash_after(struct fake_pool *p, long n);
/* Whether the armed crash happened. */
bool fake_pool_crashed(const struct fake_pool *p);

bool fake_pool_exists(const struct fake_pool *p, uint32_t dev_id);
bool fake_pool_active(const struct fake_pool *p, uint32_t dev_id);
/* The ids, ascending, into ids (up to max); returns how many exist. */
size_t fake_pool_ids(const struct fake_pool *p, uint32_t *ids, size_t max);
