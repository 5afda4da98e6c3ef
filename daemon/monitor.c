/*
 * The pool monitor: a thread that sleeps on the pool's dm events (low water, out of space,
 * mode changes) and re-reads its space every monitor interval anyway (the low-water event
 * fires once per resume), grows the pool through thinsnap_autogrow() (loop files, or LVM
 * logical volumes with lvextend; serialised with snapshot operations by the library) and
 * logs space warnings, and "nothing left to grow into" (data, or metadata at its cap), once per
 * crossing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"

/* Waits are cut into slices so that a stop is seen within one. */
#define SLICE_MS 250

struct thinsnap_daemon_monitor {
	struct thinsnap_snapshotter *snap;
	struct thinsnap_daemon_monitor_opts opts;
	char pool_name[128];
	atomic_bool stopping;
	pthread_t thread;
	/* what was last logged, so that each crossing is logged once */
	bool near_floor[2], below_floor[2], capped[2]; /* [0] data, [1] metadata */
	uint64_t metadata_bytes; /* the metadata size last seen, to log its growth */
	char last_error[256];
};

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* free / total < percent / 100, in integers; never for an empty total */
static bool free_below(uint64_t used, uint64_t total, unsigned percent)
{
	uint64_t free_bytes = total > used ? total - used : 0;
	return total > 0 &&
	       (unsigned __int128)free_bytes * 100 < (unsigned __int128)total * percent;
}

static void watch_space(struct thinsnap_daemon_monitor *m, int i, const char *what, uint64_t used,
			uint64_t total, int floor_percent)
{
	unsigned floor = floor_percent > 0 ? (unsigned)floor_percent : 0;
	bool below = floor > 0 && free_below(used, total, floor);
	bool near = free_below(used, total, floor + m->opts.warn_margin_percent);
	double free_pct =
		total ? (double)(total - (used < total ? used : total)) * 100.0 / (double)total
		      : 0.0;

	if (below && !m->below_floor[i])
		log_warning("pool '%s': %.1f%% of %s space free (%.1f of %.1f MiB), below the "
			    "%u%% floor: new snapshots are refused",
			    m->pool_name, free_pct, what, mib(total - used), mib(total), floor);
	else if (near && !below && !m->near_floor[i])
		log_warning("pool '%s': %.1f%% of %s space free (%.1f of %.1f MiB), within %u%% "
			    "of the %u%% floor",
			    m->pool_name, free_pct, what, mib(total - used), mib(total),
			    m->opts.warn_margin_percent, floor);
	else if (!near && m->near_floor[i])
		log_info("pool '%s': %.1f%% of %s space free again", m->pool_name, free_pct, what);
	m->below_floor[i] = below;
	m->near_floor[i] = near;
}

static void check_pool(struct thinsnap_daemon_monitor *m)
{
	struct thinsnap_space_report rep;
	struct thinsnap_error e = { 0 };
	int r;

	r = thinsnap_autogrow(m->snap, &m->opts.grow, &rep, &e);
	if (r < 0) {
		if (strcmp(e.msg, m->last_error) != 0)
			log_error("pool monitor: %s", e.msg);
		(void)snprintf(m->last_error, sizeof(m->last_error), "%s", e.msg);
		return;
	}
	m->last_error[0] = '\0';
	if (rep.grown && rep.total_data_bytes != rep.old_data_bytes)
		log_info("pool '%s': data grown from %.1f to %.1f MiB (%.1f MiB used, auto-grow "
			 "threshold %u%%)",
			 m->pool_name, mib(rep.old_data_bytes), mib(rep.total_data_bytes),
			 mib(rep.used_data_bytes), m->opts.grow.threshold_percent);
	if (rep.grown && m->metadata_bytes && rep.total_metadata_bytes != m->metadata_bytes)
		log_info("pool '%s': metadata grown from %.1f to %.1f MiB (%.1f MiB used, "
			 "auto-grow threshold %u%%)",
			 m->pool_name, mib(m->metadata_bytes), mib(rep.total_metadata_bytes),
			 mib(rep.used_metadata_bytes), m->opts.grow.threshold_percent);
	m->metadata_bytes = rep.total_metadata_bytes;
	if (rep.grown)
		thinsnap_daemon_metrics_capacity_changed(m->opts.metrics);
	if (rep.data_capped && !m->capped[0])
		log_warning("pool '%s': %.1f of %.1f MiB data and %.1f of %.1f MiB metadata used, "
			    "past the %u%% auto-grow threshold, but the pool cannot grow further: "
			    "nothing is left to grow into (cap %.1f MiB, the volume group's or the "
			    "filesystem's free space)",
			    m->pool_name, mib(rep.used_data_bytes), mib(rep.total_data_bytes),
			    mib(rep.used_metadata_bytes), mib(rep.total_metadata_bytes),
			    m->opts.grow.threshold_percent, mib(m->opts.grow.max_data_size_bytes));
	if (rep.metadata_capped && !m->capped[1])
		log_warning(
			"pool '%s': %.1f of %.1f MiB metadata used, past the %u%% auto-grow "
			"threshold, but the metadata is at its limit: autogrow_metadata_max_size "
			"%.1f MiB, the kernel's %.1f MiB or the end of its room",
			m->pool_name, mib(rep.used_metadata_bytes), mib(rep.total_metadata_bytes),
			m->opts.grow.threshold_percent, mib(m->opts.grow.max_metadata_size_bytes),
			mib(THINSNAP_POOL_METADATA_MAX_BYTES));
	/* a round that grew (or fell below the threshold) ends the crossing */
	m->capped[0] = rep.data_capped;
	m->capped[1] = rep.metadata_capped;
	watch_space(m, 0, "data", rep.used_data_bytes, rep.total_data_bytes,
		    rep.min_free_data_percent);
	watch_space(m, 1, "metadata", rep.used_metadata_bytes, rep.total_metadata_bytes,
		    rep.min_free_metadata_percent);
}

static void *monitor_main(void *arg)
{
	struct thinsnap_daemon_monitor *m = arg;
	uint64_t interval_ms = (uint64_t)m->opts.interval_s * 1000, waited_ms = 0;
	uint32_t event_nr = 0;

	check_pool(m);
	while (!atomic_load(&m->stopping)) {
		struct thinsnap_error e = { 0 };
		int r = thinsnap_wait_pool_event(m->snap, &event_nr, SLICE_MS, &e);
		if (atomic_load(&m->stopping))
			break;
		if (r < 0) {
			if (strcmp(e.msg, m->last_error) != 0)
				log_error("pool monitor: %s", e.msg);
			(void)snprintf(m->last_error, sizeof(m->last_error), "%s", e.msg);
			struct timespec ts = { 0, SLICE_MS * 1000000L };
			(void)nanosleep(&ts, NULL);
		}
		waited_ms += SLICE_MS;
		if (r == 1)
			log_debug("pool '%s': dm event %" PRIu32, m->pool_name, event_nr);
		if (r == 1 || waited_ms >= interval_ms) {
			check_pool(m);
			waited_ms = 0;
		}
	}
	return NULL;
}

int thinsnap_daemon_monitor_start(struct thinsnap_snapshotter *snap, const char *pool_name,
				  const struct thinsnap_daemon_monitor_opts *opts,
				  struct thinsnap_daemon_monitor **ret)
{
	CLEANUP_FREE struct thinsnap_daemon_monitor *m = calloc(1, sizeof(*m));
	int r;

	if (!m)
		return -ENOMEM;
	if (!snap || !opts || opts->interval_s == 0)
		return -EINVAL;
	m->snap = snap;
	m->opts = *opts;
	(void)snprintf(m->pool_name, sizeof(m->pool_name), "%s", pool_name);
	atomic_init(&m->stopping, false);
	r = pthread_create(&m->thread, NULL, monitor_main, m);
	if (r)
		return -r;
	*ret = TAKE_PTR(m);
	return 0;
}

void thinsnap_daemon_monitor_stop(struct thinsnap_daemon_monitor *m)
{
	if (!m)
		return;
	atomic_store(&m->stopping, true);
	pthread_join(m->thread, NULL);
	free(m);
}
