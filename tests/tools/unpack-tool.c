/*
 * A stand-in for the thinsnap command in t0701-unpack.sh until the CLI is merged: the verbs
 * that test needs (pool create/destroy, unpack, view --target, remove, ls -q, info, check),
 * with the CLI's names and layout (<state-dir>/pool holds the pool's identity and loop files).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>
#include <thinsnap/unpack.h>

static const char *state_dir, *pool_name;
static char pool_dir[4096];

static int fail(const char *what, const struct thinsnap_error *e)
{
	fprintf(stderr, "unpack-tool: %s: %s\n", what, e->msg);
	return 1;
}

static int open_s(bool ro, struct thinsnap_snapshotter **s)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_options o = {
		.state_dir = state_dir,
		.pool_name = pool_name,
		.base_size_bytes = 256ull << 20,
		.fs_type = "ext4",
		.read_only = ro,
	};

	return thinsnap_open(&o, s, &e) < 0 ? fail("open", &e) : 0;
}

static int pool_create(void)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	struct thinsnap_pool_create_opts po = {
		.name = pool_name,
		.state_dir = pool_dir,
		.data_size_bytes = 1ull << 30,
	};

	(void)mkdir(state_dir, 0700);
	if (thinsnap_pool_create(&po, &p, &e) < 0)
		return fail("pool create", &e);
	thinsnap_pool_free(p);
	return 0;
}

static int pool_destroy(void)
{
	struct thinsnap_error e = { 0 };
	struct thinsnap_pool *p = NULL;
	uint32_t *ids = NULL;
	size_t n = 0;

	if (thinsnap_pool_open(pool_name, pool_dir, &p, &e) < 0)
		return fail("pool open", &e);
	if (thinsnap_pool_list_thin_ids(p, &ids, &n, &e) == 0) {
		for (size_t i = 0; i < n; i++) {
			char dm[160];

			snprintf(dm, sizeof(dm), "%s-snap-%u", pool_name, ids[i]);
			thinsnap_pool_deactivate_thin(p, dm, NULL);
			snprintf(dm, sizeof(dm), "%s-base-%u", pool_name, ids[i]);
			thinsnap_pool_deactivate_thin(p, dm, NULL);
		}
		free(ids);
	}
	if (thinsnap_pool_destroy(p, &e) < 0) {
		thinsnap_pool_free(p);
		return fail("pool destroy", &e);
	}
	return 0;
}

static void on_done(void *ud, size_t layer, size_t n, const char *chain, bool skipped)
{
	(void)ud;
	printf("layer %zu/%zu %s %s\n", layer + 1, n, chain, skipped ? "present" : "committed");
	fflush(stdout);
}

static int unpack(int argc, char **argv)
{
	struct thinsnap_unpack_options uo = { .layer_done = on_done };
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error e = { 0 };
	struct thinsnap_unpack_layer l;
	bool json = argc > 1 && strcmp(argv[1], "--json") == 0;
	size_t n;
	int r;

	if (argc != (json ? 3 : 2))
		return 2;
	if (thinsnap_unpack_image_open(argv[argc - 1], NULL, NULL, &img, &e) < 0)
		return fail("image", &e);
	if (open_s(false, &s)) {
		thinsnap_unpack_image_free(img);
		return 1;
	}
	if (unshare(CLONE_NEWNS) == 0) /* as the CLI: mounts die with the process */
		(void)mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	if (json)
		uo.layer_done = NULL;
	r = thinsnap_unpack(s, img, &uo, &e);
	thinsnap_free(s);
	if (r < 0) {
		thinsnap_unpack_image_free(img);
		return fail("unpack", &e);
	}
	n = thinsnap_unpack_image_n_layers(img);
	if (json) {
		printf("{\"layers\":[");
		for (size_t i = 0; i < n; i++) {
			thinsnap_unpack_image_layer(img, i, &l);
			printf("%s{\"chain_id\":\"%s\"}", i ? "," : "", l.chain_id);
		}
		printf("],");
	}
	thinsnap_unpack_image_layer(img, n - 1, &l);
	printf(json ? "\"top\":\"%s\"}\n" : "%s\n", l.chain_id);
	thinsnap_unpack_image_free(img);
	return 0;
}

static int view(int argc, char **argv)
{
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_mount *m = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	if (argc != 5 || strcmp(argv[1], "--target") != 0)
		return 2;
	if (open_s(false, &s))
		return 1;
	r = thinsnap_view(s, argv[3], argv[4], NULL, 0, &m, &e);
	thinsnap_free(s);
	if (r < 0)
		return fail("view", &e);
	r = mount(m->source, argv[2], m->type, MS_RDONLY, NULL);
	if (r < 0)
		perror("unpack-tool: mount");
	thinsnap_mount_free(m);
	return r < 0;
}

static int remove_key(int argc, char **argv)
{
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	if (argc != 2 || open_s(false, &s))
		return 1;
	r = thinsnap_remove(s, argv[1], &e);
	thinsnap_free(s);
	return r < 0 ? fail("remove", &e) : 0;
}

static int print_name(void *ud, const struct thinsnap_info *info)
{
	(void)ud;
	printf("%s\n", info->name);
	return 0;
}

static int ls(void)
{
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	if (open_s(true, &s))
		return 1;
	r = thinsnap_walk(s, NULL, 0, print_name, NULL, &e);
	thinsnap_free(s);
	return r < 0 ? fail("walk", &e) : 0;
}

static int info(int argc, char **argv)
{
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_info *i = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	if (argc != 2 || open_s(true, &s))
		return 1;
	r = thinsnap_stat(s, argv[1], &i, &e);
	thinsnap_free(s);
	if (r < 0)
		return fail("stat", &e);
	printf("{\"name\":\"%s\",\"kind\":\"%s\",\"labels\":{", i->name,
	       thinsnap_kind_name(i->kind));
	for (size_t k = 0; k < i->n_labels; k++)
		printf("%s\"%s\":\"%s\"", k ? "," : "", i->labels[k].key, i->labels[k].value);
	printf("}}\n");
	thinsnap_info_free(i);
	return 0;
}

static int check(void)
{
	struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_check_report *rep = NULL;
	struct thinsnap_error e = { 0 };
	int r;

	if (open_s(false, &s))
		return 1;
	r = thinsnap_check(s, &rep, &e);
	thinsnap_free(s);
	if (r < 0)
		return fail("check", &e);
	printf("leaked %zu dangling %zu unfinished %zu pending %zu\n", rep->n_leaked,
	       rep->n_dangling, rep->n_unfinished, rep->n_pending_deletes);
	r = rep->n_leaked || rep->n_dangling || rep->n_unfinished;
	thinsnap_check_report_free(rep);
	return r;
}

int main(int argc, char **argv)
{
	int i = 1;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (strcmp(argv[i], "--state-dir") == 0)
			state_dir = argv[i + 1];
		else if (strcmp(argv[i], "--pool") == 0)
			pool_name = argv[i + 1];
		else
			return 2;
	}
	if (!state_dir || !pool_name || i >= argc)
		return 2;
	snprintf(pool_dir, sizeof(pool_dir), "%s/pool", state_dir);
	argc -= i;
	argv += i;
	if (strcmp(argv[0], "pool") == 0 && argc >= 2 && strcmp(argv[1], "create") == 0)
		return pool_create();
	if (strcmp(argv[0], "pool") == 0 && argc >= 2 && strcmp(argv[1], "destroy") == 0)
		return pool_destroy();
	if (strcmp(argv[0], "unpack") == 0)
		return unpack(argc, argv);
	if (strcmp(argv[0], "view") == 0)
		return view(argc, argv);
	if (strcmp(argv[0], "remove") == 0)
		return remove_key(argc, argv);
	if (strcmp(argv[0], "ls") == 0)
		return ls();
	if (strcmp(argv[0], "info") == 0)
		return info(argc, argv);
	if (strcmp(argv[0], "check") == 0)
		return check();
	fprintf(stderr, "unpack-tool: unknown verb '%s'\n", argv[0]);
	return 2;
}
