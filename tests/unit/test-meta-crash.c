/* meta/: crash safety. The journal is cut at every byte of its last records, garbled, hit by
 * simulated power loss at every sync (crashio) and by ENOSPC/EIO; each time it must reopen with
 * a prefix of the acknowledged steps, the in-flight one all or nothing. */
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

#include "base/fault.h"
#include "crashio.h"
#include "meta-sig.h"
#include "meta/meta.h"
#include "testutil.h"

#define N_STEPS 40

/* test_power_loss runs once with one journal file and once with its copy (opts.redundant) */
static bool redundant;

static uint64_t signature(struct thinsnap_meta *m)
{
	uint64_t s = tu_meta_signature(m);

	assert_true(s != 0);
	return s;
}

/* Step k of the workload: returns what the journal returned. */
static int step(struct thinsnap_meta *m, int k, uint64_t *intent_id)
{
	struct thinsnap_error err = { 0 };
	char key[128], parent[128];
	struct thinsnap_meta_label l[2] = { { "containerd.io/snapshot/label", key }, { "k", "v" } };
	struct thinsnap_meta_op op = { 0 };
	int i = k / 4;

	snprintf(key, sizeof(key), "default/%d/sha256:%064d", i, i);
	snprintf(parent, sizeof(parent), "default/%d/sha256:%064d", i - 1, i - 1);
	switch (k % 4) {
	case 0: /* create an active snapshot on the previous committed one */
		op = (struct thinsnap_meta_op){ .type = THINSNAP_META_OP_SNAP_CREATE,
						.key = "active",
						.parent = i ? parent : NULL,
						.kind = THINSNAP_META_ACTIVE,
						.dev_id = (uint32_t)(i + 1),
						.labels = l,
						.n_labels = 2,
						.fs_type = "ext4" };
		return thinsnap_meta_apply(m, &op, 1, &err);
	case 1: /* usage + labels + an old pending delete done, in one group */
	{
		struct thinsnap_meta_op g[3] = {
			{ .type = THINSNAP_META_OP_USAGE_SET,
			  .key = "active",
			  .usage_bytes = (uint64_t)k * 4096 },
			{ .type = THINSNAP_META_OP_LABELS_SET,
			  .key = "active",
			  .labels = l + 1,
			  .n_labels = 1,
			  .updated_ns = k },
			{ .type = THINSNAP_META_OP_DELETE_PENDING_REMOVE,
			  .dev_id = 1000 + (uint32_t)i - 1 },
		};
		return thinsnap_meta_apply(m, g, i ? 3 : 2, &err);
	}
	case 2: /* commit it via an intent (begin) */
	{
		struct thinsnap_meta_pool_op po = { THINSNAP_META_POOL_CREATE_THIN,
						    1000 + (uint32_t)i, 0 };
		struct thinsnap_meta_op g[2] = {
			{ .type = THINSNAP_META_OP_SNAP_COMMIT,
			  .key = "active",
			  .name = key,
			  .labels = l,
			  .n_labels = 1,
			  .updated_ns = k },
			{ .type = THINSNAP_META_OP_DELETE_PENDING_ADD,
			  .dev_id = 1000 + (uint32_t)i },
		};
		struct thinsnap_meta_intent in = { .pool_ops = &po,
						   .n_pool_ops = 1,
						   .transaction_id_before = (uint64_t)k,
						   .transaction_id_after = (uint64_t)k + 1,
						   .ops = g,
						   .n_ops = 2 };
		return thinsnap_meta_intent_begin(m, &in, intent_id, &err);
	}
	default: /* finish it */
		return thinsnap_meta_intent_finish(m, *intent_id, true, &err);
	}
}

/* Signatures after each step of a clean run (sig[0] = empty), and journal sizes. */
static void reference(uint64_t compact, uint64_t sig[N_STEPS + 2], uint64_t end[N_STEPS + 2],
		      uint8_t **ret_file, size_t *ret_len)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .compact_threshold_bytes = compact,
					     .redundant = redundant };
	struct thinsnap_meta *m = NULL;
	uint64_t iid = 0;
	int k = 0;

	assert_int_equal(thinsnap_meta_open(&o, &m, NULL), 0);
	sig[0] = signature(m);
	end[0] = thinsnap_meta_journal_bytes(m);
	for (int s = 0; s < N_STEPS; s++) {
		assert_int_equal(step(m, s, &iid), 0);
		k++;
		sig[k] = signature(m);
		end[k] = thinsnap_meta_journal_bytes(m);
	}
	thinsnap_meta_free(m);
	if (ret_file)
		*ret_file = tu_read(tu_path(dir, "journal"), ret_len);
	tu_rmrf(dir);
}

static void open_check(const char *dir, const uint64_t *sig, int lo, int hi, int *ret_k,
		       bool read_only)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .read_only = read_only,
					     .redundant = redundant };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	uint64_t s;
	int r = thinsnap_meta_open(&o, &m, &err), k;

	if (r < 0)
		fail_msg("reopen failed: %s", err.msg);
	s = signature(m);
	for (k = hi; k >= lo; k--)
		if (sig[k] == s)
			break;
	if (k < lo)
		fail_msg("state after reopen is none of steps %d..%d", lo, hi);
	*ret_k = k;
	thinsnap_meta_free(m);
}

static void test_cut_every_byte(void **state)
{
	uint64_t sig[N_STEPS + 2], end[N_STEPS + 2];
	uint8_t *file = NULL;
	size_t len = 0;
	char *dir = tu_mkdtemp();
	const char *jp = tu_path(dir, "journal");
	unsigned seed = 1;

	(void)state;
	reference(UINT64_MAX, sig, end, &file, &len);
	assert_int_equal(len, end[N_STEPS]);
	for (int garble = 0; garble < 2; garble++) {
		for (size_t cut = end[N_STEPS - 6]; cut <= len; cut++) {
			int want = 0, got = 0;
			for (int k = 0; k <= N_STEPS; k++)
				if (end[k] <= cut)
					want = k;
			if (garble && cut < len) {
				/* the rest of the record being written holds garbage */
				uint8_t *g = malloc(end[want + 1]);
				memcpy(g, file, cut);
				for (size_t j = cut; j < end[want + 1]; j++) {
					seed = seed * 1103515245u + 12345u;
					g[j] = (uint8_t)(seed >> 16);
				}
				assert_int_equal(tu_write(jp, g, end[want + 1] - 1), 0);
				free(g);
			} else {
				assert_int_equal(tu_write(jp, file, cut), 0);
			}
			/* read-only opens are quick (no truncate + fdatasync); every 8th is a
			 * writer's, which cuts the torn tail off */
			bool writer = cut % 8 == 0 || cut == len;
			open_check(dir, sig, 0, N_STEPS, &got, !writer);
			if (got != want)
				fail_msg("cut at %zu (garble %d): state of step %d, want %d", cut,
					 garble, got, want);
			/* the torn tail was cut off: a second open sees the same */
			if (writer) {
				size_t l2 = 0;
				free(tu_read(jp, &l2));
				assert_int_equal(l2, end[want]);
			}
		}
	}
	free(file);
	tu_rmrf(dir);
}

static void test_bit_flips(void **state)
{
	uint64_t sig[N_STEPS + 2], end[N_STEPS + 2];
	uint8_t *file = NULL;
	size_t len = 0;
	char *dir = tu_mkdtemp();
	const char *jp = tu_path(dir, "journal");
	struct thinsnap_meta_open_opts o = { .state_dir = dir, .read_only = true };

	(void)state;
	reference(UINT64_MAX, sig, end, &file, &len);
	/* every byte of the header and of the first records, and a sample after */
	for (size_t off = 0; off < len; off += off < end[4] ? 1 : 7) {
		struct thinsnap_meta *m = NULL;
		struct thinsnap_error err = { 0 };
		int r, last = 0;
		file[off] ^= 0x04;
		assert_int_equal(tu_write(jp, file, len), 0);
		file[off] ^= 0x04;
		r = thinsnap_meta_open(&o, &m, &err);
		for (int k = 0; k <= N_STEPS; k++)
			if (end[k] <= off)
				last = k;
		if (last == N_STEPS - 1) {
			/* the last record: indistinguishable from a torn write */
			assert_int_equal(r, 0);
			assert_int_equal(signature(m), sig[N_STEPS - 1]);
		} else if (r == 0) {
			fail_msg("flip at %zu not detected", off);
		} else {
			assert_int_equal(r, -EUCLEAN);
		}
		thinsnap_meta_free(m);
	}
	free(file);
	tu_rmrf(dir);
}

/* Runs the workload on io until a step fails; returns the number of acknowledged steps. */
static int run_until_failure(const char *dir, struct crashio *c, uint64_t compact)
{
	struct thinsnap_meta_open_opts o = { .state_dir = dir,
					     .io = &c->io,
					     .compact_threshold_bytes = compact,
					     .redundant = redundant };
	struct thinsnap_meta *m = NULL;
	uint64_t iid = 0;
	int acked = 0;

	if (thinsnap_meta_open(&o, &m, NULL) < 0)
		return -1;
	for (int s = 0; s < N_STEPS; s++) {
		if (step(m, s, &iid) < 0)
			break;
		acked++;
	}
	thinsnap_meta_free(m);
	return acked;
}

static void power_loss(void)
{
	uint64_t compacts[] = { UINT64_MAX, 1500 };

	for (size_t ci = 0; ci < sizeof(compacts) / sizeof(compacts[0]); ci++) {
		uint64_t sig[N_STEPS + 2], end[N_STEPS + 2];
		reference(compacts[ci], sig, end, NULL, NULL);
		for (long k = 1; k < 80; k++) {
			for (unsigned seed = 1; seed <= 4; seed++) {
				char *dir = tu_mkdtemp();
				struct crashio c;
				int acked, got = 0;
				crashio_init(&c);
				c.crash_at = k;
				c.seed = seed;
				acked = run_until_failure(dir, &c, compacts[ci]);
				crashio_done(&c);
				if (acked < 0) { /* crashed while creating the journal */
					tu_rmrf(dir);
					continue;
				}
				if (acked == N_STEPS) {
					tu_rmrf(dir);
					continue;
				}
				open_check(dir, sig, acked, acked + 1, &got, false);
				if (got < acked)
					fail_msg("crash at sync %ld seed %u compact %zu: lost "
						 "acknowledged step (%d < %d)",
						 k, seed, ci, got, acked);
				tu_rmrf(dir);
			}
		}
	}
}

/* Power loss at every sync, with one journal file, then with two copies (which take turns
 * being synced: an acknowledged record must be durable in the one synced for it). */
static void test_power_loss(void **state)
{
	(void)state;
	redundant = false;
	power_loss();
	redundant = true;
	power_loss();
	redundant = false;
}

static void test_enospc_eio(void **state)
{
	uint64_t sig[N_STEPS + 2], end[N_STEPS + 2];
	int errs[] = { -ENOSPC, -EIO };

	(void)state;
	reference(2000, sig, end, NULL, NULL);
	for (size_t e = 0; e < 2; e++) {
		for (long k = 1; k < 60; k++) {
			for (int which = 0; which < 2; which++) {
				char *dir = tu_mkdtemp();
				struct crashio c;
				int acked, got = 0;
				crashio_init(&c);
				c.err = errs[e];
				c.partial = true;
				if (which)
					c.fail_sync_at = k;
				else
					c.fail_write_at = k;
				acked = run_until_failure(dir, &c, 2000);
				crashio_done(&c);
				if (acked >= 0 && acked < N_STEPS) {
					open_check(dir, sig, acked, acked + 1, &got, false);
				}
				tu_rmrf(dir);
			}
		}
	}
}

static void test_fault_points(void **state)
{
	char *dir = tu_mkdtemp();
	struct thinsnap_meta_open_opts o = { .state_dir = dir };
	struct thinsnap_meta *m = NULL;
	struct thinsnap_error err = { 0 };
	uint64_t iid = 0;

	(void)state;
	assert_int_equal(thinsnap_meta_open(&o, &m, NULL), 0);
	assert_int_equal(step(m, 0, &iid), 0);
	assert_int_equal(thinsnap_fault_arm("meta.append.before_sync:-EIO"), 0);
	assert_int_equal(step(m, 1, &iid), -EIO);
	assert_int_equal(thinsnap_fault_hits("meta.append.before_sync"),
			 1); /* the point failed it */
	assert_int_equal(thinsnap_fault_arm(NULL), 0);
	/* the handle refuses further mutations */
	assert_int_equal(step(m, 1, &iid), -EIO);
	assert_int_equal(thinsnap_meta_compact(m, &err), -EIO);
	thinsnap_meta_free(m);
	m = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &m, NULL), 0);
	assert_non_null(thinsnap_meta_get(m, "active"));
	assert_int_equal(step(m, 1, &iid), 0);
	/* a failed rename during compaction leaves the old generation */
	assert_int_equal(thinsnap_fault_arm("meta.compact.before_rename:-EIO"), 0);
	assert_int_equal(thinsnap_meta_compact(m, &err), -EIO);
	assert_int_equal(thinsnap_fault_hits("meta.compact.before_rename"), 1);
	assert_int_equal(thinsnap_fault_arm(NULL), 0);
	assert_int_equal(step(m, 2, &iid), 0);
	thinsnap_meta_free(m);
	m = NULL;
	assert_int_equal(thinsnap_meta_open(&o, &m, NULL), 0);
	assert_int_equal(step(m, 3, &iid), 0);
	thinsnap_meta_free(m);
	tu_rmrf(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_every_byte), cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_power_loss),     cmocka_unit_test(test_enospc_eio),
		cmocka_unit_test(test_fault_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
