/*
 * An in-memory dm-thin pool (tests/lib/fake-pool.h): a sorted array of thin devices and a
 * transaction id, changed only by calls that follow the kernel's rules, with a crash point.
 */
#include "fake-pool.h"

#include <errno.h>
#include <string.h>

void fake_pool_init(struct fake_pool *p, uint64_t transaction_id)
{
	memset(p, 0, sizeof(*p));
	p->transaction_id = transaction_id;
	p->crash_at = -1;
}

/* dev_id's index in p->devs; -ENOENT if absent, -ERANGE if it can't be a dev_id. */
static long find(const struct fake_pool *p, uint32_t dev_id)
{
	if (dev_id >= FAKE_POOL_DEV_ID_LIMIT)
		return -ERANGE;
	for (size_t i = 0; i < p->n_devs; i++)
		if (p->devs[i].dev_id == dev_id)
			return (long)i;
	return -ENOENT;
}

/* Counts the change about to be made, unless the crash point is reached (-EIO). After 0 the
 * change must happen. */
static int change(struct fake_pool *p)
{
	if (p->crashed || (p->crash_at >= 0 && p->changes >= p->crash_at)) {
		p->crashed = true;
		return -EIO;
	}
	p->changes++;
	return 0;
}

/* A thin device, or with origin_id a snapshot of that one. */
static int create(struct fake_pool *p, uint32_t dev_id, const uint32_t *origin_id)
{
	long at = find(p, dev_id), origin = 0;
	int r;

	if (at == -ERANGE)
		return -ERANGE;
	if (at >= 0)
		return -EEXIST;
	if (origin_id)
		origin = find(p, *origin_id);
	if (origin < 0)
		return (int)origin;
	if (p->n_devs == FAKE_POOL_MAX_DEVS)
		return -ENOSPC;
	r = change(p);
	if (r < 0)
		return r;
	at = 0;
	while ((size_t)at < p->n_devs && p->devs[at].dev_id < dev_id)
		at++;
	memmove(&p->devs[at + 1], &p->devs[at], (p->n_devs - (size_t)at) * sizeof(p->devs[0]));
	p->devs[at] = (struct fake_pool_dev){ .dev_id = dev_id,
					      .origin_id = origin_id ? *origin_id : UINT32_MAX };
	p->n_devs++;
	return 0;
}

int fake_pool_create_thin(struct fake_pool *p, uint32_t dev_id)
{
	return create(p, dev_id, NULL);
}

int fake_pool_create_snap(struct fake_pool *p, uint32_t dev_id, uint32_t origin_id)
{
	return create(p, dev_id, &origin_id);
}

int fake_pool_delete(struct fake_pool *p, uint32_t dev_id)
{
	long at = find(p, dev_id);
	int r;

	if (at < 0)
		return (int)at;
	if (p->devs[at].active)
		return -EBUSY;
	r = change(p);
	if (r < 0)
		return r;
	memmove(&p->devs[at], &p->devs[at + 1], (p->n_devs - (size_t)at - 1) * sizeof(p->devs[0]));
	p->n_devs--;
	return 0;
}

static int set_active(struct fake_pool *p, uint32_t dev_id, bool active)
{
	long at = find(p, dev_id);
	int r;

	if (at == -ENOENT && !active)
		return 0;
	if (at < 0)
		return (int)at;
	if (p->devs[at].active == active)
		return 0;
	r = change(p);
	if (r < 0)
		return r;
	p->devs[at].active = active;
	return 0;
}

int fake_pool_activate(struct fake_pool *p, uint32_t dev_id)
{
	return set_active(p, dev_id, true);
}

int fake_pool_deactivate(struct fake_pool *p, uint32_t dev_id)
{
	return set_active(p, dev_id, false);
}

int fake_pool_set_transaction_id(struct fake_pool *p, uint64_t old_tid, uint64_t new_tid)
{
	int r;

	if (p->transaction_id != old_tid)
		return -ESTALE;
	r = change(p);
	if (r < 0)
		return r;
	p->transaction_id = new_tid;
	return 0;
}

void fake_pool_crash_after(struct fake_pool *p, long n)
{
	p->crashed = false;
	p->crash_at = n < 0 ? -1 : p->changes + n;
}

bool fake_pool_crashed(const struct fake_pool *p)
{
	return p->crashed;
}

bool fake_pool_exists(const struct fake_pool *p, uint32_t dev_id)
{
	return find(p, dev_id) >= 0;
}

bool fake_pool_active(const struct fake_pool *p, uint32_t dev_id)
{
	long at = find(p, dev_id);

	return at >= 0 && p->devs[at].active;
}

size_t fake_pool_ids(const struct fake_pool *p, uint32_t *ids, size_t max)
{
	for (size_t i = 0; i < p->n_devs && i < max; i++)
		ids[i] = p->devs[i].dev_id;
	return p->n_devs;
}
