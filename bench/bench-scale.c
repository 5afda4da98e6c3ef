/*
 * The scale benchmark's library side (bench/scale/run.sh drives it): grows a realistic forest
 * of snapshots in one pool (containerd-style keys and labels, image layer chains that branch,
 * containers and views on top), times thinsnap_open() on it, times thinsnapd from exec to its
 * first accepted connection, and tears a pool down fast. Run as root where dm-thin works.
 *   bench-scale populate STATE_DIR POOL TARGET   grow the forest to TARGET snapshots
 *   bench-scale open STATE_DIR POOL REPS         median and p90 of thinsnap_open()
 *   bench-scale ops STATE_DIR POOL REPS          library and pool-floor latencies, TSV rows
 *   bench-scale pair STATE_DIR POOL REF_DIR REF_POOL REPS
 *                                                prepare/remove of an active snapshot, library
 *                                                and bare floor, on both pools, interleaved
 *                                                round by round, with their dm calls timed
 *   bench-scale ready SOCKET PIDFILE CMD...      exec CMD, time until SOCKET accepts
 *   bench-scale destroy STATE_DIR POOL           deactivate every thin device, destroy the pool
 *   bench-scale deactivate STATE_DIR POOL        deactivate every thin device only
 */
#include <errno.h>
#include <inttypes.h>
#include <linux/dm-ioctl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

#include "bare-dm.h"

#define BASE_SIZE_BYTES (1ull << 30) /* as THINSNAP_BASE_IMAGE_SIZE=1GB for the daemon */
#define KEY_MAX         192

/* What the forest's i-th snapshot is: a committed layer, a container (active) or a view. */
enum role { LAYER, CONTAINER, VIEW };

struct spec {
	enum role role;
	int parent; /* index of a LAYER spec, -1 for none */
	uint64_t h; /* seeds its digests */
};

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* 64 hex digits from a seed: a stand-in for a sha256 digest. */
static void hex64(uint64_t seed, char out[65])
{
	for (int i = 0; i < 4; i++)
		snprintf(out + 16 * i, 17, "%016" PRIx64, mix(seed * 4 + (uint64_t)i));
}

static void die(const char *what, const struct thinsnap_error *e)
{
	fprintf(stderr, "bench-scale: %s: %s\n", what, e ? e->msg : strerror(errno));
	exit(1);
}

/*
 * The forest, in creation order, as image "families" of four: the first image of a family
 * starts from an empty filesystem, the next three branch off one of its first four layers
 * (sibling chains sharing base layers). Each image is a chain of 4..12 committed layers, then
 * 0..2 containers (active) and, one image in four, a view, all on its top layer. Chains are at
 * most 16 deep. About 85% committed, 12% active, 3% views.
 */
static struct spec *forest(int n)
{
	struct spec *v = calloc((size_t)n + 32, sizeof(*v));
	int i = 0, root_first = 0, root_len = 0;

	if (!v)
		die("forest", NULL);
	for (uint64_t b = 0; i < n; b++) {
		uint64_t h = mix(b);
		int layers = 4 + (int)(h % 9), containers = (int)((h >> 8) % 3);
		int views = ((h >> 16) % 4) == 0, parent = -1;

		if (b % 4 == 0) {
			root_first = i;
			root_len = layers;
		} else {
			int k = (int)((h >> 24) % (uint64_t)(root_len < 4 ? root_len : 4));
			parent = root_first + k;
		}
		for (int l = 0; l < layers; l++, i++)
			v[i] = (struct spec){ LAYER, l ? i - 1 : parent, mix(h + (uint64_t)l) };
		int top = i - 1;
		for (int c = 0; c < containers; c++, i++)
			v[i] = (struct spec){ CONTAINER, top, mix(h + 100 + (uint64_t)c) };
		for (int w = 0; w < views; w++, i++)
			v[i] = (struct spec){ VIEW, top, mix(h + 200 + (uint64_t)w) };
	}
	return v;
}

/* containerd's metadata store names snapshots "<namespace>/<bucket sequence>/<key>". */
static void key_of(const struct spec *v, int i, char *buf, size_t size)
{
	char d[65];

	hex64(v[i].h, d);
	if (v[i].role == LAYER)
		snprintf(buf, size, "default/%d/sha256:%s", 2 * i + 2, d);
	else if (v[i].role == CONTAINER)
		snprintf(buf, size, "default/%d/%s", 2 * i + 2, d);
	else
		snprintf(buf, size, "default/%d/%s-view", 2 * i + 2, d);
}

static void create(struct thinsnap_snapshotter *s, const struct spec *v, int i)
{
	char key[KEY_MAX], parent[KEY_MAX] = "", tmp[KEY_MAX], d[65], ref[80];
	struct thinsnap_error e = { 0 };
	int r;

	key_of(v, i, key, sizeof(key));
	if (v[i].parent >= 0)
		key_of(v, v[i].parent, parent, sizeof(parent));
	hex64(v[i].h + 1, d);
	snprintf(ref, sizeof(ref), "sha256:%s", d);
	if (v[i].role == LAYER) {
		/* as containerd's unpacker: an "extract" active on the parent, then its commit */
		const char *chain = strchr(key + strlen("default/"), '/') + 1;
		const struct thinsnap_label l[2] = {
			{ "containerd.io/snapshot.ref", chain },
			{ "containerd.io/snapshot/cri.layer-digest", ref },
		};
		snprintf(tmp, sizeof(tmp), "default/%d/extract-%d-%.8s %s", 2 * i + 1, i, d, chain);
		r = thinsnap_prepare(s, tmp, *parent ? parent : NULL, l, 1, NULL, &e);
		if (r == 0)
			r = thinsnap_commit(s, key, tmp, l, 2, 0, &e);
	} else {
		const struct thinsnap_label l[2] = {
			{ "containerd.io/snapshot/cri.container", ref },
			{ "io.kubernetes.pod.namespace", "bench" },
		};
		if (v[i].role == CONTAINER)
			r = thinsnap_prepare(s, key, parent, l, 2, NULL, &e);
		else
			r = thinsnap_view(s, key, parent, l, 2, NULL, &e);
	}
	if (r < 0)
		die(key, &e);
}

static struct thinsnap_snapshotter *open_snap(const char *dir, const char *pool)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };

	o.state_dir = dir;
	o.pool_name = pool;
	o.base_size_bytes = BASE_SIZE_BYTES;
	if (thinsnap_open(&o, &s, &e) < 0)
		die("open", &e);
	return s;
}

static int populate(const char *dir, const char *pool, int target)
{
	struct thinsnap_snapshotter *s = open_snap(dir, pool);
	struct thinsnap_counts c;
	struct thinsnap_error e = { 0 };
	struct spec *v = forest(target);
	double t;
	int have;

	if (thinsnap_counts(s, &c, &e) < 0)
		die("counts", &e);
	have = (int)(c.active + c.views + c.committed);
	t = now_us();
	for (int i = have; i < target; i++)
		create(s, v, i);
	t = now_us() - t;
	if (thinsnap_counts(s, &c, &e) < 0)
		die("counts", &e);
	fprintf(stderr,
		"bench-scale: %d -> %d snapshots in %.1f s (%.2f ms each): %zu committed, "
		"%zu active, %zu views\n",
		have, target, t / 1e6, target > have ? t / 1e3 / (target - have) : 0.0, c.committed,
		c.active, c.views);
	free(v);
	thinsnap_free(s);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* thinsnap_open() on the grown pool, devices active: a daemon restart's cost. */
static int time_open(const char *dir, const char *pool, int reps)
{
	double *v = calloc((size_t)reps, sizeof(double));

	if (!v || reps < 1)
		die("open: bad repetitions", NULL);
	for (int i = 0; i < reps; i++) {
		double t = now_us();
		struct thinsnap_snapshotter *s = open_snap(dir, pool);
		v[i] = now_us() - t;
		thinsnap_free(s);
	}
	qsort(v, (size_t)reps, sizeof(double), cmp_double);
	printf("%.0f\t%.0f\n", v[reps / 2], v[(reps * 9) / 10]);
	free(v);
	return 0;
}

struct series {
	const char *name;
	double *v;
	int n;
};

/* Times one call into series i of sr; any failure ends the benchmark. */
#define TIMED(i, call, what)                         \
	do {                                         \
		double t0_ = now_us();               \
		if ((call) < 0)                      \
			die(what, &e);               \
		sr[i].v[sr[i].n++] = now_us() - t0_; \
	} while (0)

static int first_committed(void *userdata, const struct thinsnap_info *info)
{
	char **ret = userdata;

	if (info->kind != THINSNAP_KIND_COMMITTED)
		return 0;
	*ret = strdup(info->name);
	return -ECANCELED; /* found: stop the walk */
}

/*
 * The same operations as the daemon's client, straight through the library (no gRPC), and the
 * pool floor under them (bare pool/ calls on a free dev_id range, snapshots of the base device),
 * on the grown pool: where time goes as the pool grows. Prints TSV rows as run.sh's.
 */
static int time_ops(const char *dir, const char *pool_name, int reps)
{
	enum { PREP, REM_A, COMMIT, REM_C, STATUS, SNAP, ACT, DEACT, DEL, TID, NS };
	static const char *names[NS] = { "lib_prepare",    "lib_remove_active",
					 "lib_commit",     "lib_remove_committed",
					 "floor_status",   "floor_create_snap",
					 "floor_activate", "floor_deactivate",
					 "floor_delete",   "floor_set_transaction_id" };
	struct series sr[NS];
	struct thinsnap_snapshotter *s = open_snap(dir, pool_name);
	struct thinsnap_error e = { 0 };
	struct thinsnap_counts c;
	struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_status st;
	char *parent = NULL, pool_dir[4096], dm[256];
	uint32_t *ids = NULL;
	size_t n_ids = 0;

	for (int i = 0; i < NS; i++)
		sr[i] = (struct series){ names[i], calloc((size_t)reps, sizeof(double)), 0 };
	if (thinsnap_counts(s, &c, &e) < 0)
		die("counts", &e);
	if (thinsnap_walk(s, NULL, 0, first_committed, &parent, &e) != -ECANCELED || !parent)
		die("no committed snapshot", &e);
	for (int i = 0; i < reps; i++) {
		char a[64], k[64];

		snprintf(a, sizeof(a), "default/scale-lib/a-%d", i);
		snprintf(k, sizeof(k), "default/scale-lib/c-%d", i);
		TIMED(PREP, thinsnap_prepare(s, a, parent, NULL, 0, NULL, &e), "prepare");
		TIMED(REM_A, thinsnap_remove(s, a, &e), "remove");
		if (thinsnap_prepare(s, a, parent, NULL, 0, NULL, &e) < 0)
			die("prepare", &e);
		TIMED(COMMIT, thinsnap_commit(s, k, a, NULL, 0, 0, &e), "commit");
		TIMED(REM_C, thinsnap_remove(s, k, &e), "remove");
	}
	free(parent);
	thinsnap_free(s);

	if (thinsnap_state_pool_dir(dir, pool_dir, sizeof(pool_dir)) < 0)
		die("pool dir", NULL);
	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) < 0)
		die("pool open", &e);
	if (thinsnap_pool_list_thin_ids(p, &ids, &n_ids, &e) < 0 || n_ids == 0)
		die("list thin ids", &e);
	for (int i = 0; i < reps; i++) {
		uint32_t id = THINSNAP_POOL_DEV_ID_MAX - (uint32_t)i;
		uint64_t tid;

		snprintf(dm, sizeof(dm), "%s-floor", pool_name);
		TIMED(STATUS, thinsnap_pool_status(p, &st, &e), "status");
		tid = st.transaction_id;
		TIMED(SNAP, thinsnap_pool_create_snap(p, id, ids[0], NULL, &e),
		      "floor create_snap");
		TIMED(ACT, thinsnap_pool_activate_thin(p, id, dm, BASE_SIZE_BYTES, false, &e),
		      "floor activate");
		TIMED(DEACT, thinsnap_pool_deactivate_thin(p, dm, &e), "floor deactivate");
		TIMED(DEL, thinsnap_pool_delete_thin(p, id, &e), "floor delete");
		TIMED(TID, thinsnap_pool_set_transaction_id(p, tid, tid + 1, &e),
		      "floor set_transaction_id");
	}
	thinsnap_pool_thin_ids_free(ids);
	thinsnap_pool_free(p);
	for (int i = 0; i < NS; i++) {
		qsort(sr[i].v, (size_t)sr[i].n, sizeof(double), cmp_double);
		printf("%s\t%zu\t%.0f\t%.0f\n", sr[i].name, c.active + c.views + c.committed,
		       sr[i].v[sr[i].n / 2], sr[i].v[(sr[i].n * 9) / 10]);
		free(sr[i].v);
	}
	return 0;
}

/*
 * Where a pair round's time goes. The benchmark defines ioctl(), fdatasync() and fsync()
 * itself: the library (linked statically) and libdevmapper (which binds to the program's
 * symbols first) call these, which time each call by its kind (the dm command, a target
 * message by its verb) before making the system call. Off outside the pair rounds.
 */
enum phase {
	PH_LIST,
	PH_CREATE,
	PH_REMOVE,
	PH_SUSPEND,
	PH_RESUME,
	PH_INFO,
	PH_LOAD,
	PH_STATUS,
	PH_TABLE,
	PH_MSG_CREATE_SNAP,
	PH_MSG_SET_TID,
	PH_MSG_DELETE,
	PH_MSG_OTHER,
	PH_DM_OTHER,
	PH_FDATASYNC,
	PH_FSYNC,
	NPH
};
static const char *const phase_names[NPH] = {
	[PH_LIST] = "dm_list",
	[PH_CREATE] = "dm_create",
	[PH_REMOVE] = "dm_remove",
	[PH_SUSPEND] = "dm_suspend",
	[PH_RESUME] = "dm_resume",
	[PH_INFO] = "dm_info",
	[PH_LOAD] = "dm_load",
	[PH_STATUS] = "dm_status",
	[PH_TABLE] = "dm_table",
	[PH_MSG_CREATE_SNAP] = "msg_create_snap",
	[PH_MSG_SET_TID] = "msg_set_transaction_id",
	[PH_MSG_DELETE] = "msg_delete",
	[PH_MSG_OTHER] = "msg_other",
	[PH_DM_OTHER] = "dm_other",
	[PH_FDATASYNC] = "fdatasync",
	[PH_FSYNC] = "fsync",
};
static bool clock_on;
static double phase_us[NPH];
static unsigned phase_calls[NPH];

/* The phase of a dm ioctl: by its command; a suspend, a status and a message by their flags and
 * text. */
static enum phase dm_phase(unsigned long req, const struct dm_ioctl *dmi)
{
	static const struct {
		unsigned cmd;
		enum phase ph;
	} by_cmd[] = {
		{ DM_LIST_DEVICES_CMD, PH_LIST }, { DM_DEV_CREATE_CMD, PH_CREATE },
		{ DM_DEV_REMOVE_CMD, PH_REMOVE }, { DM_DEV_STATUS_CMD, PH_INFO },
		{ DM_TABLE_LOAD_CMD, PH_LOAD },
	};
	static const struct {
		const char *verb;
		enum phase ph;
	} by_verb[] = { { "create_snap ", PH_MSG_CREATE_SNAP },
			{ "set_transaction_id ", PH_MSG_SET_TID },
			{ "delete ", PH_MSG_DELETE } };
	unsigned cmd = _IOC_NR(req);
	const struct dm_target_msg *m;

	for (size_t i = 0; i < sizeof(by_cmd) / sizeof(by_cmd[0]); i++)
		if (by_cmd[i].cmd == cmd)
			return by_cmd[i].ph;
	if (cmd == DM_DEV_SUSPEND_CMD)
		return dmi && (dmi->flags & DM_SUSPEND_FLAG) ? PH_SUSPEND : PH_RESUME;
	if (cmd == DM_TABLE_STATUS_CMD)
		return dmi && (dmi->flags & DM_STATUS_TABLE_FLAG) ? PH_TABLE : PH_STATUS;
	if (cmd != DM_TARGET_MSG_CMD)
		return PH_DM_OTHER;
	if (!dmi || dmi->data_start >= dmi->data_size)
		return PH_MSG_OTHER;
	m = (const void *)((const char *)dmi + dmi->data_start);
	for (size_t i = 0; i < sizeof(by_verb) / sizeof(by_verb[0]); i++)
		if (strncmp(m->message, by_verb[i].verb, strlen(by_verb[i].verb)) == 0)
			return by_verb[i].ph;
	return PH_MSG_OTHER;
}

/* default visibility: libdevmapper binds to these only if the program exports them */
#define EXPORTED __attribute__((visibility("default")))

EXPORTED int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	void *arg;
	double t;
	long r;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (!clock_on || _IOC_TYPE(req) != DM_IOCTL)
		return (int)syscall(SYS_ioctl, fd, req, arg);
	enum phase ph = dm_phase(req, arg); /* before the call: the kernel rewrites the buffer */
	t = now_us();
	r = syscall(SYS_ioctl, fd, req, arg);
	phase_us[ph] += now_us() - t;
	phase_calls[ph]++;
	return (int)r;
}

static int timed_sync(int fd, long nr, enum phase ph)
{
	double t = now_us();
	int r = (int)syscall(nr, fd);

	if (clock_on) {
		phase_us[ph] += now_us() - t;
		phase_calls[ph]++;
	}
	return r;
}

EXPORTED int fdatasync(int fd)
{
	return timed_sync(fd, SYS_fdatasync, PH_FDATASYNC);
}

EXPORTED int fsync(int fd)
{
	return timed_sync(fd, SYS_fsync, PH_FSYNC);
}

/* One timed operation: wall and thread CPU time, and its calls by phase. */
struct sample {
	double wall_us, cpu_us;
	double ph_us[NPH];
	unsigned ph_calls[NPH];
};

static double cpu_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static void sample_begin(struct sample *x)
{
	memset(x, 0, sizeof(*x));
	memcpy(x->ph_us, phase_us, sizeof(phase_us));
	memcpy(x->ph_calls, phase_calls, sizeof(phase_calls));
	for (int k = 0; k < NPH; k++) {
		x->ph_us[k] = -x->ph_us[k];
		x->ph_calls[k] = -x->ph_calls[k];
	}
	clock_on = true;
	x->cpu_us = -cpu_now_us();
	x->wall_us = -now_us();
}

static void sample_end(struct sample *x)
{
	x->wall_us += now_us();
	x->cpu_us += cpu_now_us();
	clock_on = false;
	for (int k = 0; k < NPH; k++) {
		x->ph_us[k] += phase_us[k];
		x->ph_calls[k] += phase_calls[k];
	}
}

/* The contenders of a pair round: the library and the bare floor, on each pool. */
struct contender {
	struct thinsnap_snapshotter *s; /* the library's; NULL for a floor */
	const char *pool_name;
	char *parent;       /* the library's: a committed snapshot's key */
	char params[64];    /* the floor's: its thin table, "MAJOR:MINOR DEV_ID" of the pool */
	uint32_t origin_id; /* the floor's: a thin device of the pool */
};

/* The floor: create_snap of the origin and the device's activation; its deactivation and
 * delete. One dev_id at the top of the range, free again after each round. */
static void floor_op(struct contender *c, struct sample *prep, struct sample *rem)
{
	const uint32_t id = THINSNAP_POOL_DEV_ID_MAX;
	char dm[256], msg[64];

	snprintf(dm, sizeof(dm), "%s-floor", c->pool_name);
	snprintf(msg, sizeof(msg), "create_snap %u %u", id, c->origin_id);
	sample_begin(prep);
	if (bare_message(c->pool_name, msg) < 0 ||
	    bare_create(dm, BASE_SIZE_BYTES / 512, c->params) < 0)
		die("floor create_snap + activate", NULL);
	sample_end(prep);
	snprintf(msg, sizeof(msg), "delete %u", id);
	sample_begin(rem);
	if (bare_remove(dm) < 0 || bare_message(c->pool_name, msg) < 0)
		die("floor deactivate + delete", NULL);
	sample_end(rem);
}

static void library_op(struct contender *c, int i, struct sample *prep, struct sample *rem)
{
	struct thinsnap_error e = { 0 };
	char a[64];

	snprintf(a, sizeof(a), "default/scale-pair/a-%d", i);
	sample_begin(prep);
	if (thinsnap_prepare(c->s, a, c->parent, NULL, 0, NULL, &e) < 0)
		die("prepare", &e);
	sample_end(prep);
	sample_begin(rem);
	if (thinsnap_remove(c->s, a, &e) < 0)
		die("remove", &e);
	sample_end(rem);
}

/* Prints one round's rows of an operation: "OP[:PART]<TAB>grown<TAB>reference", the parts
 * being the thread's CPU time (cpu), each phase, and the rest (wall minus the phases). */
static void print_rows(const char *op, const struct sample *g, const struct sample *r)
{
	double rest[2] = { g->wall_us, r->wall_us };

	printf("%s\t%.0f\t%.0f\n", op, g->wall_us, r->wall_us);
	printf("%s:cpu\t%.0f\t%.0f\n", op, g->cpu_us, r->cpu_us);
	for (int k = 0; k < NPH; k++) {
		rest[0] -= g->ph_us[k];
		rest[1] -= r->ph_us[k];
		if (g->ph_calls[k] || r->ph_calls[k])
			printf("%s:%s\t%.0f\t%.0f\n", op, phase_names[k], g->ph_us[k], r->ph_us[k]);
	}
	printf("%s:rest\t%.0f\t%.0f\n", op, rest[0], rest[1]);
}

/*
 * Prepare and remove of an active snapshot, through the library and as the bare floor, on
 * the grown pool and on the reference pool, interleaved: each round runs all four, in an order
 * that rotates and flips from round to round, so all see the same load. Prints rows as
 * print_rows() for prepare, remove_active, floor_prepare and floor_remove, then the calls per
 * operation by phase ("calls:OP:PHASE", on each pool).
 */
static int time_pair(const char *dir, const char *pool, const char *rdir, const char *rpool,
		     int reps)
{
	struct contender c[4] = { { .s = open_snap(dir, pool), .pool_name = pool },
				  { .s = open_snap(rdir, rpool), .pool_name = rpool },
				  { .pool_name = pool },
				  { .pool_name = rpool } };
	const char *const dirs[2] = { dir, rdir };
	struct thinsnap_error e = { 0 };
	unsigned calls[4][NPH] = { { 0 } }; /* by contender: prepare's, then remove's */
	unsigned rcalls[4][NPH] = { { 0 } };

	for (int k = 0; k < 2; k++) {
		struct thinsnap_pool *p = NULL;
		char pool_dir[4096];
		uint32_t *ids = NULL;
		size_t n_ids = 0;
		unsigned maj, mnr;

		if (thinsnap_walk(c[k].s, NULL, 0, first_committed, &c[k].parent, &e) !=
			    -ECANCELED ||
		    !c[k].parent)
			die("no committed snapshot", &e);
		if (thinsnap_state_pool_dir(dirs[k], pool_dir, sizeof(pool_dir)) < 0)
			die("pool dir", NULL);
		if (thinsnap_pool_open(c[k].pool_name, pool_dir, &p, &e) < 0 ||
		    thinsnap_pool_list_thin_ids(p, &ids, &n_ids, &e) < 0 || n_ids == 0)
			die("list thin ids", &e);
		c[2 + k].origin_id = ids[0];
		thinsnap_pool_thin_ids_free(ids);
		thinsnap_pool_free(p);
		if (bare_pool_devno(c[k].pool_name, &maj, &mnr) < 0)
			die("pool devno", NULL);
		snprintf(c[2 + k].params, sizeof(c[2 + k].params), "%u:%u %u", maj, mnr,
			 THINSNAP_POOL_DEV_ID_MAX);
	}
	for (int i = -1; i < reps; i++) { /* round -1 warms all up */
		struct sample prep[4], rem[4];
		int rot = (i + 1) % 4, flip = ((i + 1) / 4) & 1;

		for (int j = 0; j < 4; j++) {
			int k = (rot + (flip ? 3 - j : j)) % 4;

			if (c[k].s)
				library_op(&c[k], i + 1, &prep[k], &rem[k]);
			else
				floor_op(&c[k], &prep[k], &rem[k]);
		}
		if (i < 0)
			continue;
		print_rows("prepare", &prep[0], &prep[1]);
		print_rows("remove_active", &rem[0], &rem[1]);
		print_rows("floor_prepare", &prep[2], &prep[3]);
		print_rows("floor_remove", &rem[2], &rem[3]);
		for (int k = 0; k < 4; k++)
			for (int ph = 0; ph < NPH; ph++) {
				calls[k][ph] += prep[k].ph_calls[ph];
				rcalls[k][ph] += rem[k].ph_calls[ph];
			}
	}
	static const char *const ops[4] = { "prepare", "remove_active", "floor_prepare",
					    "floor_remove" };
	for (int o = 0; o < 4; o++) {
		unsigned(*cl)[NPH] = o & 1 ? rcalls : calls;
		int g = o < 2 ? 0 : 2;

		for (int ph = 0; ph < NPH; ph++)
			if (cl[g][ph] || cl[g + 1][ph])
				printf("calls:%s:%s\t%.3g\t%.3g\n", ops[o], phase_names[ph],
				       (double)cl[g][ph] / reps, (double)cl[g + 1][ph] / reps);
	}
	for (int k = 0; k < 2; k++) {
		free(c[k].parent);
		thinsnap_free(c[k].s);
	}
	return 0;
}

/* exec argv, then connect to sock until it accepts; prints microseconds, writes the pid. */
static int ready(const char *sock, const char *pidfile, char **argv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double t = now_us();
	pid_t pid;
	FILE *f;

	if (strlen(sock) >= sizeof(a.sun_path))
		die("socket path too long", NULL);
	strcpy(a.sun_path, sock);
	pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (pid == 0) {
		(void)dup2(STDERR_FILENO, STDOUT_FILENO); /* our stdout is the caller's pipe */
		execv(argv[0], argv);
		_exit(127);
	}
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), st;

		if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			close(fd);
			break;
		}
		if (fd >= 0)
			close(fd);
		if (waitpid(pid, &st, WNOHANG) == pid) {
			fprintf(stderr, "bench-scale: %s exited (status %d) before it was ready\n",
				argv[0], st);
			return 1;
		}
		if (now_us() - t > 300e6) {
			kill(pid, SIGTERM);
			fprintf(stderr, "bench-scale: %s not ready after 300 s\n", argv[0]);
			return 1;
		}
		usleep(500);
	}
	printf("%.0f\n", now_us() - t);
	f = fopen(pidfile, "w");
	if (!f || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0)
		die(pidfile, NULL);
	return 0;
}

/* Deactivates every thin device of the pool (a fast teardown: no snapshot is removed one by
 * one); with destroy, then destroys the pool and its loop files. */
static int deactivate(const char *dir, const char *pool_name, bool destroy)
{
	struct thinsnap_pool *p = NULL;
	struct thinsnap_error e = { 0 };
	char pool_dir[4096], **names = NULL;
	size_t n = 0;

	if (thinsnap_state_pool_dir(dir, pool_dir, sizeof(pool_dir)) < 0)
		die("pool dir", NULL);
	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) < 0)
		die("pool open", &e);
	if (thinsnap_pool_active_names(p, &names, &n, &e) < 0)
		die("active names", &e);
	for (size_t i = 0; i < n; i++)
		if (thinsnap_pool_deactivate_thin(p, names[i], &e) < 0)
			die(names[i], &e);
	thinsnap_pool_names_free(names, n);
	if (destroy && thinsnap_pool_destroy(p, &e) < 0)
		die("destroy", &e);
	if (!destroy)
		thinsnap_pool_free(p);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "populate") == 0)
		return populate(argv[2], argv[3], atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "open") == 0)
		return time_open(argv[2], argv[3], atoi(argv[4]));
	if (argc == 5 && strcmp(argv[1], "ops") == 0)
		return time_ops(argv[2], argv[3], atoi(argv[4]));
	if (argc == 7 && strcmp(argv[1], "pair") == 0)
		return time_pair(argv[2], argv[3], argv[4], argv[5], atoi(argv[6]));
	if (argc >= 5 && strcmp(argv[1], "ready") == 0)
		return ready(argv[2], argv[3], argv + 4);
	if (argc == 4 && strcmp(argv[1], "destroy") == 0)
		return deactivate(argv[2], argv[3], true);
	if (argc == 4 && strcmp(argv[1], "deactivate") == 0)
		return deactivate(argv[2], argv[3], false);
	fprintf(stderr, "usage: bench-scale populate|open|ready|destroy ... (see its header)\n");
	return 2;
}
