/*
 * meta/: the journal's two copies (opts.redundant). A journal of 200 snapshots (chains,
 * commits, views, labels, a pending delete, an unfinished intent, a checkpoint and appends
 * after it) is damaged at every 512-byte sector of either copy in turn, truncated at every
 * record boundary of either copy, and has a copy deleted: every time it reopens whole. With
 * the copy deleted, the same damage is salvaged (snap/salvage.c's plan against a list of pool
 * ids): every thin device stays named, by its key or as lost+found/<id>, and the report is exact.
 */
/* clang-format off */
#include <setjmp.h> /* cmocka.h needs these first */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <thinsnap/salvage.h>

#include "base/io.h"
#include "meta-sig.h"
#include "meta/format.h"
#include "meta/meta.h"
#include "snap/snap.h"
#include "testutil.h"

#define N_CHAINS 40

static struct thinsnap_meta *open_r(const char *dir, bool read_only, int *ret_r)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .read_only = read_only,
					     .redundant = true,
					     .compact_threshold_bytes = UINT64_MAX };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };

	*ret_r = thinsnap_meta_open(&o, &m, &err);
	return m;
}

static void apply1(struct thinsnap_meta *m, struct thinsnap_meta_op op)
{
	struct thinsnap_error err = { 0 };
	int r = thinsnap_meta_apply(m, &op, 1, &err);

	if (r < 0)
		fail_msg("apply: %s", err.msg);
}

static void create(struct thinsnap_meta *m, const char *key, const char *parent,
		   enum thinsnap_meta_kind kind, uint32_t id)
{
	const struct thinsnap_meta_label l[] = { { "containerd.io/snapshot.ref",
						   strlen(key) < 64 ? key : "big" },
						 { "n", "v\nw\x1b" } };
	apply1(m, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
					     .key = key,
					     .parent = parent,
					     .kind = kind,
					     .dev_id = id,
					     .size_bytes = (uint64_t)id << 20,
					     .fs_type = id % 2 ? "ext4" : "xfs",
					     .labels = l,
					     .n_labels = 2,
					     .created_ns = id,
					     .updated_ns = id + 1 });
}

/* The workload: "base", 40 chains of 3 committed layers, 40 actives committed (renamed),
 * 40 views, label and usage changes, a removal with a pending delete, an unfinished intent;
 * a checkpoint half-way. 202 entries. */
static void build(const char *dir)
{
	struct thinsnap_error err = { 0 };
	struct thinsnap_meta *m;
	char k[64], p[64], big[4097];
	uint32_t id = 1;
	uint64_t iid = 0;
	int r;

	m = open_r(dir, false, &r);
	assert_int_equal(r, 0);
	create(m, "base", NULL, THINSNAP_META_INTERNAL, id++);
	for (int c = 0; c < N_CHAINS; c++)
		for (int l = 0; l < 3; l++) {
			snprintf(k, sizeof(k), "c%d/layer-%d", c, l);
			snprintf(p, sizeof(p), "c%d/layer-%d", c, l - 1);
			create(m, k, l ? p : "base", THINSNAP_META_COMMITTED, id++);
		}
	assert_int_equal(thinsnap_meta_compact(m, &err), 0);
	for (int c = 0; c < N_CHAINS; c++) {
		snprintf(k, sizeof(k), "active\n%d", c);
		snprintf(p, sizeof(p), "c%d/layer-2", c);
		create(m, k, p, THINSNAP_META_ACTIVE, id++);
		snprintf(p, sizeof(p), "c%d/top", c);
		apply1(m, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_COMMIT,
						     .key = k,
						     .name = p,
						     .updated_ns = 7 });
		snprintf(k, sizeof(k), "view-%d", c);
		snprintf(p, sizeof(p), "c%d/layer-1", c);
		create(m, k, p, THINSNAP_META_VIEW, id++);
		apply1(m, (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_USAGE_SET,
						     .key = k,
						     .usage_bytes = (uint64_t)c * 4096 });
	}
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	create(m, big, "base", THINSNAP_META_VIEW, id++);
	create(m, "gone", "base", THINSNAP_META_ACTIVE, id);
	{
		struct thinsnap_meta_op ops[] = {
			{ .type = THINSNAP_META_OP_SNAP_REMOVE, .key = "gone" },
			{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD, .dev_id = id++ },
		};
		assert_int_equal(thinsnap_meta_apply(m, ops, 2, &err), 0);
	}
	{
		struct thinsnap_meta_pool_op pool = { .type = THINSNAP_META_POOL_CREATE_THIN,
						      .dev_id = id };
		struct thinsnap_meta_op op = { .type = THINSNAP_META_OP_SNAP_CREATE,
					       .key = "in-flight",
					       .kind = THINSNAP_META_ACTIVE,
					       .dev_id = id };
		struct thinsnap_meta_intent in = { .pool_ops = &pool,
						   .n_pool_ops = 1,
						   .transaction_id_before = 5,
						   .transaction_id_after = 6,
						   .ops = &op,
						   .n_ops = 1 };
		assert_int_equal(thinsnap_meta_intent_begin(m, &in, &iid, &err), 0);
	}
	assert_int_equal(thinsnap_meta_count(m), 1 + 3 * N_CHAINS + 2 * N_CHAINS + 1);
	thinsnap_meta_free(m);
}

/* Offsets where records start in a journal file (and its end), from its framing. */
static size_t boundaries(const uint8_t *p, size_t len, size_t *out, size_t max)
{
	size_t n = 0, o = JNL_HEADER_SIZE;

	/* a record's magic, not the zeros written ahead of the end */
	while (o + REC_HEADER_SIZE <= len && n < max && get_le32(p + o) == REC_MAGIC) {
		out[n++] = o;
		o += REC_HEADER_SIZE + get_le32(p + o + 8);
	}
	if (n < max)
		out[n++] = o < len ? o : len;
	return n;
}

/* Where a journal file's records end: the zeros after are written ahead of the end. */
static size_t data_end(const uint8_t *p, size_t len)
{
	size_t *b = calloc(len / REC_HEADER_SIZE + 2, sizeof(*b));
	size_t n, end;

	assert_non_null(b);
	n = boundaries(p, len, b, len / REC_HEADER_SIZE + 2);
	end = n ? b[n - 1] : len;
	for (size_t i = end; i < len; i++)
		assert_int_equal(p[i], 0);
	free(b);
	return end;
}

/* Opens (a reader, or a writer that rewrites the copies) and compares with the reference;
 * a writer's open leaves the two copies equal again. */
static bool intact(const char *dir, uint64_t want, bool writer)
{
	int r;
	struct thinsnap_meta *m = open_r(dir, !writer, &r);
	bool ok = r == 0 && tu_meta_signature(m) == want;

	thinsnap_meta_free(m);
	if (ok && writer) {
		size_t a = 0, b = 0;
		uint8_t *pa = tu_read(tu_path(dir, "journal"), &a);
		uint8_t *pb = tu_read(tu_path(dir, "journal.copy"), &b);
		/* the same records; the zeros ahead of the end may differ in length */
		ok = pa && pb && data_end(pa, a) == data_end(pb, b) &&
		     memcmp(pa, pb, data_end(pa, a)) == 0;
		free(pa);
		free(pb);
	}
	return ok;
}

static void test_damage_matrix(void **state)
{
	static const char *const names[] = { "journal", "journal.copy" };
	char *dir = tu_mkdtemp();
	uint8_t *orig[2];
	size_t len[2], end, tried = 0, kept = 0, cuts = 0, cut_kept = 0;
	uint64_t want;
	int r;
	struct thinsnap_meta *m;

	(void)state;
	build(dir);
	m = open_r(dir, true, &r);
	assert_int_equal(r, 0);
	want = tu_meta_signature(m);
	thinsnap_meta_free(m);
	for (int f = 0; f < 2; f++) {
		orig[f] = tu_read(tu_path(dir, names[f]), &len[f]);
		assert_non_null(orig[f]);
	}
	assert_int_equal(len[0], len[1]);
	assert_memory_equal(orig[0], orig[1], len[0]);
	end = data_end(orig[0], len[0]);
	assert_true(len[0] >= end + (256u << 10)); /* zeros written ahead of the end */
	for (int f = 0; f < 2; f++) {
		uint8_t *p = malloc(len[f]);
		size_t *b = calloc(len[f], sizeof(*b)), nb;
		unsigned seed = 7;
		assert_non_null(p);
		/* a garbled sector (random bytes, or zeros as a torn write leaves); of the
		 * zeros written ahead of the end, the first 8 sectors */
		for (size_t o = 0; o < len[f] && o < end + 4096; o += 512) {
			memcpy(p, orig[f], len[f]);
			for (size_t j = o; j < o + 512 && j < len[f]; j++) {
				seed = seed * 1103515245u + 12345u;
				p[j] = (o / 512) % 2 ? (uint8_t)(seed >> 16) : 0;
			}
			assert_int_equal(tu_write(tu_path(dir, names[f]), p, len[f]), 0);
			tried++;
			if (intact(dir, want, o % 4096 == 0))
				kept++;
			else
				fprintf(stderr, "lost: %s sector at %zu\n", names[f], o);
			for (int g = 0; g < 2; g++) /* back to the reference */
				assert_int_equal(tu_write(tu_path(dir, names[g]), orig[g], len[g]),
						 0);
		}
		/* truncated at every record boundary (and inside the header, and to nothing) */
		nb = boundaries(orig[f], len[f], b, len[f]);
		b[nb++] = 100;
		b[nb++] = 0;
		for (size_t i = 0; i < nb; i++) {
			assert_int_equal(tu_write(tu_path(dir, names[f]), orig[f], b[i]), 0);
			cuts++;
			if (intact(dir, want, i % 8 == 0))
				cut_kept++;
			else
				fprintf(stderr, "lost: %s cut at %zu\n", names[f], b[i]);
			for (int g = 0; g < 2; g++)
				assert_int_equal(tu_write(tu_path(dir, names[g]), orig[g], len[g]),
						 0);
		}
		/* deleted */
		assert_int_equal(unlink(tu_path(dir, names[f])), 0);
		cuts++;
		if (intact(dir, want, true))
			cut_kept++;
		for (int g = 0; g < 2; g++)
			assert_int_equal(tu_write(tu_path(dir, names[g]), orig[g], len[g]), 0);
		free(b);
		free(p);
	}
	/* the same damage without the copy is damage: the test can tell */
	{
		uint8_t *p = malloc(len[0]);
		memcpy(p, orig[0], len[0]);
		memset(p + 1024, 0, 512);
		assert_int_equal(tu_write(tu_path(dir, "journal"), p, len[0]), 0);
		assert_int_equal(unlink(tu_path(dir, "journal.copy")), 0);
		m = open_r(dir, true, &r);
		assert_int_equal(r, -EUCLEAN);
		assert_null(m);
		free(p);
	}
	printf("damage matrix: journal of %zu bytes x 2 copies, 202 snapshots: %zu damaged "
	       "sectors tried, %zu recovered intact; %zu truncations or deletions tried, %zu "
	       "recovered intact\n",
	       end, tried, kept, cuts, cut_kept);
	assert_int_equal(kept, tried);
	assert_int_equal(cut_kept, cuts);
	free(orig[0]);
	free(orig[1]);
	tu_rmrf(dir);
}

/* A journal written without a copy opens as before and gets its copy at a writer's open; a
 * reader never writes one. Damage then heals from the copy. */
static void test_migration(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta_open_opts o = { .state_dir = dir };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	uint64_t want;
	uint8_t *p;
	size_t len = 0;
	int r;

	(void)state;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	create(m, "base", NULL, THINSNAP_META_INTERNAL, 1);
	create(m, "c", "base", THINSNAP_META_COMMITTED, 2);
	want = tu_meta_signature(m);
	thinsnap_meta_free(m);
	assert_int_equal(access(tu_path(dir, "journal.copy"), F_OK), -1);
	m = open_r(dir, true, &r);
	assert_int_equal(r, 0);
	assert_int_equal(tu_meta_signature(m), want);
	thinsnap_meta_free(m);
	assert_int_equal(access(tu_path(dir, "journal.copy"), F_OK), -1);
	m = open_r(dir, false, &r);
	assert_int_equal(r, 0);
	create(m, "v", "c", THINSNAP_META_VIEW, 3);
	want = tu_meta_signature(m);
	thinsnap_meta_free(m);
	assert_int_equal(access(tu_path(dir, "journal.copy"), F_OK), 0);
	p = tu_read(tu_path(dir, "journal"), &len);
	memset(p + JNL_HEADER_SIZE, 0xff, 64);
	assert_int_equal(tu_write(tu_path(dir, "journal"), p, len), 0);
	assert_true(intact(dir, want, true));
	free(p);
	tu_rmrf(dir);
}

/* Appends take turns syncing the copies: one fdatasync per record, as with one file. */
static int n_syncs;
static int count_sync(void *userdata, int fd, bool datasync)
{
	(void)userdata;
	n_syncs++;
	return (datasync ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
}

static void test_one_sync_per_record(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_io io = { .sync = count_sync };
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .redundant = true, .io = &io };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };

	(void)state;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	create(m, "base", NULL, THINSNAP_META_INTERNAL, 1);
	n_syncs = 0;
	for (uint32_t i = 0; i < 10; i++) {
		char k[16];
		snprintf(k, sizeof(k), "s%u", i);
		create(m, k, "base", THINSNAP_META_COMMITTED, 2 + i);
	}
	printf("10 appends with two copies: %d fdatasyncs\n", n_syncs);
	assert_int_equal(n_syncs, 10);
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

/* The copy gets the records it lacks in one pwrite per turn of its own: 10 synced appends
 * write the journal 10 times and the copy 5; while the writer is open the copy alone holds
 * every record but the newest, a reader sees them all, and at close the copy is whole. */
static int n_writes;
static ssize_t count_pwrite(void *userdata, int fd, const void *buf, size_t len, off_t off)
{
	(void)userdata;
	n_writes++;
	return pwrite(fd, buf, len, off);
}

static void test_copy_one_write_per_turn(void **state)
{
	char *dir = tu_mkdtemp(), *lone = tu_mkdtemp();
	struct thinsnap_io io = { .pwrite = count_pwrite, .sync = count_sync };
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .redundant = true,
					     .compact_threshold_bytes = UINT64_MAX,
					     .io = &io };
	struct thinsnap_meta *m = NULL, *rd;
	struct thinsnap_error err = { 0 };
	uint8_t *a, *b;
	size_t la, lb;
	int r;

	(void)state;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	create(m, "base", NULL, THINSNAP_META_INTERNAL, 1); /* the journal's turn */
	n_writes = n_syncs = 0;
	for (uint32_t i = 0; i < 10; i++) {
		char k[16];
		snprintf(k, sizeof(k), "s%u", i);
		create(m, k, "base", THINSNAP_META_COMMITTED, 2 + i);
	}
	printf("10 appends with two copies: %d pwrites, %d fdatasyncs\n", n_writes, n_syncs);
	assert_int_equal(n_writes, 15);
	assert_int_equal(n_syncs, 10);
	/* a reader now (the writer open): every record */
	rd = open_r(dir, true, &r);
	assert_int_equal(r, 0);
	assert_int_equal(thinsnap_meta_count(rd), 11);
	thinsnap_meta_free(rd);
	/* the copy as it is now, alone: every record but the newest (s9, the journal's turn) */
	a = tu_read(tu_path(dir, "journal.copy"), &la);
	assert_non_null(a);
	assert_int_equal(tu_write(tu_path(lone, "journal.copy"), a, la), 0);
	free(a);
	rd = open_r(lone, true, &r);
	assert_int_equal(r, 0);
	assert_int_equal(thinsnap_meta_count(rd), 10);
	assert_non_null(thinsnap_meta_get(rd, "s8"));
	assert_null(thinsnap_meta_get(rd, "s9"));
	thinsnap_meta_free(rd);
	/* closed: the copy has caught up, byte for byte */
	thinsnap_meta_free(m);
	a = tu_read(tu_path(dir, "journal"), &la);
	b = tu_read(tu_path(dir, "journal.copy"), &lb);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	tu_rmrf(lone);
	tu_rmrf(dir);
}

/* ---- salvage with one copy left ---- */

#define MAX_ID 512

struct ref {
	char *key[MAX_ID]; /* by dev_id: the reference's key and parent */
	char *parent[MAX_ID];
	uint32_t pool[MAX_ID]; /* the "pool": every dev_id the journal names, and 3 it never knew */
	size_t n_pool;
};

static int ref_cb(const struct thinsnap_meta_snap *e, void *ud)
{
	struct ref *f = ud;

	assert_true(e->dev_id < MAX_ID);
	f->key[e->dev_id] = strdup(e->key);
	f->parent[e->dev_id] = e->parent ? strdup(e->parent) : NULL;
	return 0;
}

struct salvage_stats {
	size_t tried, devices, by_key, in_lost_found, other, notes;
};

static void count_note(void *ud, uint64_t off, const char *what)
{
	(void)off;
	assert_non_null(what);
	((struct salvage_stats *)ud)->notes++;
}

/* Salvages dir (journal only) against f->pool, then checks the outcome and the report. */
static void salvage_and_check(const char *dir, const struct ref *f, struct salvage_stats *st)
{
	struct salvage_stats mine = { 0 };
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .redundant = true,
					     .salvage = true,
					     .salvage_note = count_note,
					     .salvage_userdata = &mine };
	struct thinsnap_salvage_report *rep = calloc(1, sizeof(*rep));
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	size_t kept = 0;
	int r;

	assert_non_null(rep);
	r = thinsnap_meta_open(&o, &m, &err);
	if (r < 0)
		fail_msg("salvage open: %s", err.msg);
	assert_int_equal(thinsnap_snap_salvage_plan(m, f->pool, f->n_pool, true, rep, &err), 0);
	for (size_t i = 0; i < rep->n_found; i++) {
		rep->found[i].fs_type = strdup("ext4");
		rep->found[i].size_bytes = 1 << 20;
	}
	assert_int_equal(thinsnap_snap_salvage_adopt(m, rep, 1, &err), 0);
	thinsnap_meta_free(m);
	m = NULL;
	/* a plain open now: the salvaged journal is whole (in both copies) */
	o.salvage = false;
	o.salvage_note = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &m, &err), 0);
	for (size_t i = 0; i < f->n_pool; i++) {
		uint32_t id = f->pool[i];
		const struct thinsnap_meta_snap *e = NULL;
		char lf[64];
		st->devices++;
		snprintf(lf, sizeof(lf), "lost+found/%u", id);
		if (f->key[id] && (e = thinsnap_meta_get(m, f->key[id])) && e->dev_id == id) {
			/* kept by its key: exactly as it was */
			if (f->parent[id])
				assert_string_equal(e->parent, f->parent[id]);
			else
				assert_null(e->parent);
			st->by_key++;
			kept++;
		} else if ((e = thinsnap_meta_get(m, lf)) != NULL) {
			assert_int_equal(e->dev_id, id);
			assert_int_equal(e->kind, THINSNAP_META_COMMITTED);
			st->in_lost_found++;
		} else if (thinsnap_meta_dev_id_known(m, id)) {
			st->other++; /* a pending delete, or an unfinished intent's */
		} else {
			fail_msg("thin id %u is named by nothing after salvage", id);
		}
	}
	/* the report is exact: found = the ids now in lost+found; recovered = keys kept */
	for (size_t i = 0; i < rep->n_found; i++) {
		const struct thinsnap_meta_snap *e = thinsnap_meta_get(m, rep->found[i].key);
		assert_non_null(e);
		assert_int_equal(e->dev_id, rep->found[i].dev_id);
	}
	assert_int_equal(rep->n_recovered + rep->n_found, thinsnap_meta_count(m));
	assert_true(rep->n_recovered >= kept);
	/* every device in lost+found is explained, and so is every stretch skipped */
	assert_int_equal(rep->n_lost, rep->n_found); /* no key lost its device here */
	assert_true(rep->n_found >= 3);
	st->notes += mine.notes;
	thinsnap_meta_free(m);
	thinsnap_salvage_report_free(rep);
}

static void test_salvage_matrix(void **state)
{
	char *dir = tu_mkdtemp();
	struct ref f = { 0 };
	struct salvage_stats st = { 0 };
	struct thinsnap_meta *m;
	uint8_t *orig, *p;
	size_t len = 0, *b, nb, cuts = 0;
	int r;

	(void)state;
	build(dir);
	m = open_r(dir, true, &r);
	assert_int_equal(r, 0);
	assert_int_equal(thinsnap_meta_walk(m, ref_cb, &f), 0);
	for (uint32_t id = 1; id < MAX_ID; id++)
		if (thinsnap_meta_dev_id_known(m, id))
			f.pool[f.n_pool++] = id;
	thinsnap_meta_free(m);
	f.pool[f.n_pool++] = 500; /* devices the journal never knew */
	f.pool[f.n_pool++] = 501;
	f.pool[f.n_pool++] = 502;
	orig = tu_read(tu_path(dir, "journal"), &len);
	assert_non_null(orig);
	len = data_end(orig, len); /* as a journal without zeros ahead: the salvage figures */
	p = malloc(len);
	b = calloc(len, sizeof(*b));
	for (size_t o = 0; o < len; o += 512) {
		memcpy(p, orig, len);
		memset(p + o, o / 512 % 2 ? 0xa5 : 0, o + 512 <= len ? 512 : len - o);
		(void)unlink(tu_path(dir, "journal.copy"));
		assert_int_equal(tu_write(tu_path(dir, "journal"), p, len), 0);
		st.tried++;
		salvage_and_check(dir, &f, &st);
	}
	nb = boundaries(orig, len, b, len);
	for (size_t i = 0; i < nb; i++) {
		(void)unlink(tu_path(dir, "journal.copy"));
		assert_int_equal(tu_write(tu_path(dir, "journal"), orig, b[i]), 0);
		cuts++;
		salvage_and_check(dir, &f, &st);
	}
	printf("salvage matrix (one copy deleted): %zu damaged sectors and %zu truncations; "
	       "%zu thin devices checked, every one kept: %zu by key, %zu in lost+found, %zu as "
	       "pending deletes or unfinished operations; %zu damaged stretches reported\n",
	       st.tried, cuts, st.devices, st.by_key, st.in_lost_found, st.other, st.notes);
	assert_int_equal(st.by_key + st.in_lost_found + st.other, st.devices);
	for (size_t i = 0; i < MAX_ID; i++) {
		free(f.key[i]);
		free(f.parent[i]);
	}
	free(b);
	free(p);
	free(orig);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_damage_matrix),
		cmocka_unit_test(test_migration),
		cmocka_unit_test(test_one_sync_per_record),
		cmocka_unit_test(test_copy_one_write_per_turn),
		cmocka_unit_test(test_salvage_matrix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
