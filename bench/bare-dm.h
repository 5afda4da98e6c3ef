/*
 * The floor of the benchmarks: bare libdevmapper calls, the fewest ioctls any caller needs to
 * snapshot a thin device and activate it (create_snap message, then create + load + resume),
 * and to take it down again. Included by bench-*.c only (check-deps allows bench/).
 */
#pragma once

#include <libdevmapper.h>
#include <stdint.h>
#include <stdio.h>

static int bare_message(const char *pool, const char *msg)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_TARGET_MSG);
	int ok = dmt && dm_task_set_name(dmt, pool) && dm_task_set_sector(dmt, 0) &&
		 dm_task_set_message(dmt, msg) && dm_task_run(dmt);
	if (dmt)
		dm_task_destroy(dmt);
	return ok ? 0 : -1;
}

/* Activates a thin device: params is "MAJOR:MINOR DEV_ID" of the pool. */
static int bare_create(const char *name, uint64_t sectors, const char *params)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_CREATE);
	uint32_t cookie = 0;
	int ok = dmt && dm_task_set_name(dmt, name) &&
		 dm_task_add_target(dmt, 0, sectors, "thin", params) &&
		 dm_task_set_cookie(dmt, &cookie, 0) && dm_task_run(dmt);
	if (dmt)
		dm_task_destroy(dmt);
	(void)dm_udev_wait(cookie);
	return ok ? 0 : -1;
}

static int bare_remove(const char *name)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_REMOVE);
	uint32_t cookie = 0;
	int ok = dmt && dm_task_set_name(dmt, name) && dm_task_set_cookie(dmt, &cookie, 0) &&
		 dm_task_run(dmt);
	if (dmt)
		dm_task_destroy(dmt);
	(void)dm_udev_wait(cookie);
	return ok ? 0 : -1;
}

/* The pool's "MAJOR:MINOR" for thin tables. */
static int bare_pool_devno(const char *pool, unsigned *ret_major, unsigned *ret_minor)
{
	struct dm_task *dmt = dm_task_create(DM_DEVICE_INFO);
	struct dm_info di;
	int ok = dmt && dm_task_set_name(dmt, pool) && dm_task_run(dmt) &&
		 dm_task_get_info(dmt, &di) && di.exists;
	if (dmt)
		dm_task_destroy(dmt);
	if (!ok)
		return -1;
	*ret_major = di.major;
	*ret_minor = di.minor;
	return 0;
}
