/*
 * The scale benchmark's library side (bench/scale/run.sh drives it): grows a realistic forest
 * of snapshots in one pool (containerd-style keys and labels, image layer chains that branch,
 * containers and views on top), times thinsnap_open() on it, times thinsnapd from exec to its
 * first accepted connection, and tears a pool down fast. Run as root where dm-thin works.
 *   bench-scale populate STATE_DIR POOL TARGET   grow the forest to TARGET snapshots
 *   bench-scale open STATE_DIR POOL REPS         median and p90 of thinsnap_open()
 *   bench-scale ops STATE_DIR POOL REPS          library and pool-floor latencies, TSV rows
 *   bench-scale pair STATE_DIR POOL REF_DIR REF_POOL REPS
 *                                                prepare/remove of an active snapshot on both
 *                                                pools, interleaved round by round
 *   bench-scale ready SOCKET PIDFILE CMD...      exec CMD, time until SOCKET accepts
 *   bench-scale destroy STATE_DIR POOL           deactivate every thin device, destroy the pool
 *   bench-scale deactivate STATE_DIR POOL        deactivate every thin device only
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

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
 * Prepare and remove of an active snapshot on the grown pool and on the reference pool,
 * interleaved: each round runs both, the order flipped every round, so both see the same
 * load. Prints one row per round and operation: "op<TAB>grown_us<TAB>reference_us".
 */
static void pair_round(struct thinsnap_snapshotter *s, const char *parent, int i, double *prep,
		       double *rem)
{
	struct thinsnap_error e = { 0 };
	char a[64];
	double t;

	snprintf(a, sizeof(a), "default/scale-pair/a-%d", i);
	t = now_us();
	if (thinsnap_prepare(s, a, parent, NULL, 0, NULL, &e) < 0)
		die("prepare", &e);
	*prep = now_us() - t;
	t = now_us();
	if (thinsnap_remove(s, a, &e) < 0)
		die("remove", &e);
	*rem = now_us() - t;
}

static int time_pair(const char *dir, const char *pool, const char *rdir, const char *rpool,
		     int reps)
{
	struct thinsnap_snapshotter *s[2] = { open_snap(dir, pool), open_snap(rdir, rpool) };
	char *parent[2] = { NULL, NULL };
	struct thinsnap_error e = { 0 };

	for (int k = 0; k < 2; k++)
		if (thinsnap_walk(s[k], NULL, 0, first_committed, &parent[k], &e) != -ECANCELED ||
		    !parent[k])
			die("no committed snapshot", &e);
	for (int i = -1; i < reps; i++) { /* round -1 warms both up */
		double prep[2], rem[2];

		for (int j = 0; j < 2; j++) {
			int k = (i & 1) ? 1 - j : j;
			pair_round(s[k], parent[k], i + 1, &prep[k], &rem[k]);
		}
		if (i < 0)
			continue;
		printf("prepare\t%.0f\t%.0f\n", prep[0], prep[1]);
		printf("remove_active\t%.0f\t%.0f\n", rem[0], rem[1]);
	}
	for (int k = 0; k < 2; k++) {
		free(parent[k]);
		thinsnap_free(s[k]);
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
