/*
 * meta/: the in-memory index of the journal's state, with no I/O: snapshot entries by key
 * (open-addressing hash, intrusive child lists), their label blocks, dev_id bitmaps and the
 * unfinished intents (meta/index.c); the undo log that makes a group of ops atomic, and the
 * validation and application of ops (meta/apply.c). Internal to meta/ and its tests.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/error.h>

#include "meta/format.h"
#include "meta/meta.h"

#define ID_WORDS    (THINSNAP_META_DEV_ID_LIMIT / 64)
#define CHUNK_WORDS 1024u /* dev_id bitmaps in 8 KiB chunks, allocated on first use */
#define N_CHUNKS    (ID_WORDS / CHUNK_WORDS)

struct lblk { /* fs_type and labels of an entry, one allocation, replaced as a whole */
	size_t n;
	const char *fs_type;
	struct thinsnap_meta_label labels[];
};

struct entry {
	struct thinsnap_meta_snap pub; /* pub.key points to key[] */
	uint64_t hash;
	struct entry *parent;
	struct entry *first_child;
	struct entry *next_sib;
	struct entry *prev_sib;
	struct lblk *lb;
	struct lblk *lb_inline; /* the one allocated with the entry (not freed on its own) */
	size_t key_len;
	char key[];
};

struct intent {
	struct intent *next;
	struct intent *prev;
	uint64_t id;
	uint64_t tid_before;
	uint64_t tid_after;
	size_t n_pool;
	struct thinsnap_meta_pool_op *pool_ops;
	size_t n_touched;
	uint32_t *touched;
	size_t ops_len;
	uint8_t *ops; /* the encoded ops group */
};

enum undo_type {
	U_INSERT,
	U_REMOVE,
	U_LABELS,
	U_USAGE,
	U_SIZE,
	U_UID,
	U_BIT,
	U_INTENT_ADD,
	U_INTENT_DEL
};
enum { MAP_ENTRY, MAP_RESERVED, MAP_PENDING, N_MAPS };

struct undo {
	enum undo_type type;
	struct entry *e;
	struct lblk *lb;
	struct intent *in;
	int64_t updated_ns;
	uint64_t a, b;
	int map;
	uint32_t id;
	bool old;
};

/* The index. All zero is an empty index; thinsnap_meta_index_free() releases it. */
struct thinsnap_meta_index {
	struct entry **slots;
	uint64_t *slot_hash; /* the key hash of each slot, to skip entries without touching them */
	size_t n_slots;      /* power of 2 */
	size_t count;
	uint64_t *maps[N_MAPS][N_CHUNKS];
	struct intent *intents_head;
	struct intent *intents_tail;
	size_t n_intents;
	const struct intent *exclude; /* the intent being completed: its ids are not "touched" */
	struct entry *last_created;   /* often the next create's parent (checkpoints, chains) */

	struct undo *undo;
	size_t n_undo;
	size_t undo_cap;
};

/* ---- the index (meta/index.c) ---- */

uint64_t thinsnap_meta_hash_key(const char *s, size_t n);

/* dev_id bitmaps: MAP_ENTRY (used by an entry), MAP_RESERVED (ID_ALLOC), MAP_PENDING. */
uint64_t thinsnap_meta_map_word(struct thinsnap_meta_index *ix, int map, size_t w);
bool thinsnap_meta_map_get(struct thinsnap_meta_index *ix, int map, uint32_t id);
/* Allocates the chunk holding id, so that setting its bit cannot fail. */
int thinsnap_meta_map_prepare(struct thinsnap_meta_index *ix, int map, uint32_t id);
void thinsnap_meta_map_put(struct thinsnap_meta_index *ix, int map, uint32_t id, bool v);
/* Calls cb for each id set in map, lowest first; stops at and returns cb's first r < 0. */
int thinsnap_meta_map_each(struct thinsnap_meta_index *ix, int map,
			   int (*cb)(uint32_t id, void *userdata), void *userdata);

/* The unfinished intent (other than ix->exclude) that touches dev_id id, or NULL. */
const struct intent *thinsnap_meta_intent_touching(struct thinsnap_meta_index *ix, uint32_t id);

/* The slot of key (len bytes, hash h): its entry's, or the free slot where it would go. */
size_t thinsnap_meta_index_slot(struct thinsnap_meta_index *ix, const char *key, size_t len,
				uint64_t h);
/* The entry of key, or NULL (absent, or not a valid key). */
struct entry *thinsnap_meta_index_find(struct thinsnap_meta_index *ix, const char *key);
/* Makes room for `more` inserts without allocating later (undo must not allocate). */
int thinsnap_meta_index_reserve(struct thinsnap_meta_index *ix, size_t more);
/* Links e into the index at slot i (its free slot, found by thinsnap_meta_index_slot()). */
void thinsnap_meta_index_link_at(struct thinsnap_meta_index *ix, struct entry *e, size_t i);
void thinsnap_meta_index_link(struct thinsnap_meta_index *ix, struct entry *e);
void thinsnap_meta_index_unlink(struct thinsnap_meta_index *ix, struct entry *e);
/* Frees everything; the undo log must be empty (rolled back or committed). */
void thinsnap_meta_index_free(struct thinsnap_meta_index *ix);

void thinsnap_meta_entry_set_lblk(struct entry *e, struct lblk *lb);
struct lblk *thinsnap_meta_lblk_new(const char *fs_type, const struct thinsnap_meta_label *l,
				    size_t n);
/* Frees a label block of e unless it is the one allocated with e. */
void thinsnap_meta_lblk_release(struct entry *e, struct lblk *lb);
/* One allocation: an entry for key (kl bytes, hash h) under parent, with its key and its first
 * label block (o's fs_type and labels); not linked, its other fields zero. -ENOMEM. */
int thinsnap_meta_entry_new(const struct thinsnap_meta_op *o, const char *key, size_t kl,
			    uint64_t h, struct entry *parent, struct entry **ret);
void thinsnap_meta_entry_free(struct entry *e);

/* An intent from src, its encoded ops (ops, ops_len) and their decoded form (dops). -ENOMEM. */
int thinsnap_meta_intent_new(const struct thinsnap_meta_intent *src, uint64_t id,
			     const uint8_t *ops, size_t ops_len,
			     const struct thinsnap_meta_op *dops, size_t n_dops,
			     struct intent **ret);
void thinsnap_meta_intent_free(struct intent *in);
void thinsnap_meta_intent_link(struct thinsnap_meta_index *ix, struct intent *in);
void thinsnap_meta_intent_unlink(struct thinsnap_meta_index *ix, struct intent *in);
struct intent *thinsnap_meta_intent_find(struct thinsnap_meta_index *ix, uint64_t id);

/* ---- changes: the undo log, validation and application of ops (meta/apply.c) ---- */

/* Room for `more` undo entries: pushing them cannot fail. -ENOMEM. */
int thinsnap_meta_undo_reserve(struct thinsnap_meta_index *ix, size_t more);
void thinsnap_meta_undo_push(struct thinsnap_meta_index *ix, struct undo u);
/* Undoes every change since the last commit, newest first. */
void thinsnap_meta_undo_rollback(struct thinsnap_meta_index *ix);
/* Keeps the changes: frees what they replaced or removed. */
void thinsnap_meta_undo_commit(struct thinsnap_meta_index *ix);

/*
 * Applies a group in memory, recording undo entries; on failure everything is rolled back.
 * Errnos as thinsnap_meta_apply() documents (validation and -ENOMEM). The caller commits or
 * rolls back the undo log.
 */
int thinsnap_meta_ops_apply(struct thinsnap_meta_index *ix, const struct thinsnap_meta_op *ops,
			    size_t n, struct thinsnap_error *reterr);

/* An intent's pool ops: known types, dev_ids in range, at most 1024. -EINVAL, -ERANGE. */
int thinsnap_meta_pool_ops_check(const struct thinsnap_meta_intent *in,
				 struct thinsnap_error *reterr);

/* Applies (completed) or drops an unfinished intent in memory, with undo entries; its ops are
 * decoded through scratch. -EUCLEAN (ops that do not decode), -ENOMEM, validation errnos. */
int thinsnap_meta_intent_resolve(struct thinsnap_meta_index *ix, struct op_scratch *scratch,
				 struct intent *in, bool completed, struct thinsnap_error *reterr);
