/*
 * containerd.services.snapshots.v1.Snapshots: each method decodes its protobuf request
 * (protobuf-c, generated at build time from containerd's .proto files), calls the public
 * snapshotter API, and encodes the reply as length-prefixed gRPC messages. Runs on worker
 * threads; touches nothing shared but the snapshotter handle, which is thread-safe.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/cleanup.h"
#include "daemon/daemon.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"

typedef Containerd__Services__Snapshots__V1__Info PbInfo;
typedef Containerd__Services__Snapshots__V1__Info__LabelsEntry PbLabel;
typedef Containerd__Types__Mount PbMount;

#define PB(name) containerd__services__snapshots__v1__##name

static void put_prefix(uint8_t *p, size_t len)
{
	p[0] = 0; /* not compressed */
	p[1] = (uint8_t)(len >> 24);
	p[2] = (uint8_t)(len >> 16);
	p[3] = (uint8_t)(len >> 8);
	p[4] = (uint8_t)len;
}

void thinsnap_daemon_reply_clear(struct thinsnap_daemon_reply *reply)
{
	free(reply->body);
	memset(reply, 0, sizeof(*reply));
}

void thinsnap_daemon_reply_error(struct thinsnap_daemon_reply *reply, int status, const char *fmt,
				 ...)
{
	va_list ap;

	free(reply->body);
	reply->body = NULL;
	reply->len = 0;
	reply->status = status;
	va_start(ap, fmt);
	(void)vsnprintf(reply->msg, sizeof(reply->msg), fmt, ap);
	va_end(ap);
}

static void reply_errno(struct thinsnap_daemon_reply *reply, int r, const struct thinsnap_error *e)
{
	thinsnap_daemon_reply_error(reply, (int)thinsnap_code_from_errno(r), "%s",
				    e->msg[0] ? e->msg : strerror(-r));
}

/* Appends one gRPC message (prefix + protobuf) holding m to the reply. */
static void reply_message(struct thinsnap_daemon_reply *reply, const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	struct thinsnap_buf b = { reply->body, reply->len, reply->len };

	if (n > THINSNAP_DAEMON_MAX_MESSAGE) {
		thinsnap_daemon_reply_error(reply, THINSNAP_DAEMON_CODE_RESOURCE_EXHAUSTED,
					    "reply of %zu bytes exceeds the message limit", n);
		return;
	}
	if (thinsnap_buf_reserve(&b, 5 + n) < 0) {
		thinsnap_daemon_reply_error(reply, THINSNAP_CODE_UNKNOWN, "out of memory");
		return;
	}
	put_prefix(b.p + b.len, n);
	protobuf_c_message_pack(m, b.p + b.len + 5);
	reply->body = b.p;
	reply->len = b.len + 5 + n;
}

/* The request's labels as a borrowed array (map entries all share one layout: key, value). */
#define LABELS_OF(req, ret)                                                           \
	({                                                                            \
		struct thinsnap_label *_l = calloc((req)->n_labels + 1, sizeof(*_l)); \
		for (size_t _i = 0; _l && _i < (req)->n_labels; _i++) {               \
			_l[_i].key = (req)->labels[_i]->key;                          \
			_l[_i].value = (req)->labels[_i]->value;                      \
		}                                                                     \
		*(ret) = _l;                                                          \
		_l ? 0 : -ENOMEM;                                                     \
	})

static const char *opt_str(const char *s)
{
	return s && *s ? s : NULL;
}

/* Replies with the mount as a one-element Mount list (Prepare, View and Mounts replies share
 * one layout: repeated containerd.types.Mount mounts = 1). */
static void reply_mounts(struct thinsnap_daemon_reply *reply, const ProtobufCMessageDescriptor *d,
			 const struct thinsnap_mount *m)
{
	PbMount pm = CONTAINERD__TYPES__MOUNT__INIT;
	PbMount *pms[1] = { &pm };
	Containerd__Services__Snapshots__V1__MountsResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__MOUNTS_RESPONSE__INIT;

	resp.base.descriptor = d;
	pm.type = m->type;
	pm.source = m->source;
	pm.n_options = m->n_options;
	pm.options = m->options;
	resp.n_mounts = 1;
	resp.mounts = pms;
	reply_message(reply, &resp.base);
}

static void unpacked_freep(void *p)
{
	ProtobufCMessage *m = *(ProtobufCMessage **)p;

	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
}
#define CLEANUP_PB CLEANUP(unpacked_freep)

DEFINE_CLEANUP(struct thinsnap_mount *, thinsnap_mount_free)
DEFINE_CLEANUP(struct thinsnap_info *, thinsnap_info_free)

/* PrepareSnapshotRequest and ViewSnapshotRequest have the same fields. */
static void create(bool view, struct thinsnap_snapshotter *snap,
		   const Containerd__Services__Snapshots__V1__PrepareSnapshotRequest *req,
		   struct thinsnap_daemon_reply *reply)
{
	CLEANUP_FREE struct thinsnap_label *labels = NULL;
	CLEANUP(thinsnap_mount_freep) struct thinsnap_mount *m = NULL;
	struct thinsnap_error err = { 0 };
	int r;

	if (LABELS_OF(req, &labels) < 0)
		return thinsnap_daemon_reply_error(reply, THINSNAP_CODE_UNKNOWN, "out of memory");
	r = (view ? thinsnap_view : thinsnap_prepare)(snap, req->key, opt_str(req->parent), labels,
						      req->n_labels, &m, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_mounts(reply,
		     view ? &PB(view_snapshot_response__descriptor)
			  : &PB(prepare_snapshot_response__descriptor),
		     m);
}

static void do_prepare(struct thinsnap_snapshotter *snap, const void *request,
		       struct thinsnap_daemon_reply *reply)
{
	create(false, snap, request, reply);
}

static void do_view(struct thinsnap_snapshotter *snap, const void *request,
		    struct thinsnap_daemon_reply *reply)
{
	create(true, snap, request, reply);
}

static void do_mounts(struct thinsnap_snapshotter *snap, const void *request,
		      struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__MountsRequest *req = request;
	CLEANUP(thinsnap_mount_freep) struct thinsnap_mount *m = NULL;
	struct thinsnap_error err = { 0 };
	int r;

	r = thinsnap_mounts(snap, req->key, &m, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_mounts(reply, &PB(mounts_response__descriptor), m);
}

static void reply_empty(struct thinsnap_daemon_reply *reply)
{
	Google__Protobuf__Empty e = GOOGLE__PROTOBUF__EMPTY__INIT;

	reply_message(reply, &e.base);
}

static void do_commit(struct thinsnap_snapshotter *snap, const void *request,
		      struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__CommitSnapshotRequest *req = request;
	CLEANUP_FREE struct thinsnap_label *labels = NULL;
	struct thinsnap_error err = { 0 };
	int r;

	if (LABELS_OF(req, &labels) < 0)
		return thinsnap_daemon_reply_error(reply, THINSNAP_CODE_UNKNOWN, "out of memory");
	r = thinsnap_commit(snap, req->name, req->key, labels, req->n_labels, 0, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_empty(reply);
}

static void do_remove(struct thinsnap_snapshotter *snap, const void *request,
		      struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__RemoveSnapshotRequest *req = request;
	struct thinsnap_error err = { 0 };
	int r;

	r = thinsnap_remove(snap, req->key, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_empty(reply);
}

/* A protobuf Info borrowing the strings of a thinsnap_info; free with pbinfo_clear. */
struct pbinfo {
	PbInfo info;
	Google__Protobuf__Timestamp created, updated;
	PbLabel *entries;
	PbLabel **ptrs;
};

static void set_ts(Google__Protobuf__Timestamp *ts, int64_t ns)
{
	int64_t s = ns / 1000000000, n = ns % 1000000000;

	if (n < 0) {
		n += 1000000000;
		s--;
	}
	ts->seconds = s;
	ts->nanos = (int32_t)n;
}

static int pbinfo_init(struct pbinfo *p, const struct thinsnap_info *i)
{
	PbInfo init = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__INIT;
	Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	PbLabel li = CONTAINERD__SERVICES__SNAPSHOTS__V1__INFO__LABELS_ENTRY__INIT;

	p->info = init;
	p->created = p->updated = ts;
	p->entries = calloc(i->n_labels + 1, sizeof(*p->entries));
	p->ptrs = calloc(i->n_labels + 1, sizeof(*p->ptrs));
	if (!p->entries || !p->ptrs) {
		free(p->entries);
		free(p->ptrs);
		return -ENOMEM;
	}
	for (size_t k = 0; k < i->n_labels; k++) {
		p->entries[k] = li;
		p->entries[k].key = (char *)i->labels[k].key;
		p->entries[k].value = (char *)i->labels[k].value;
		p->ptrs[k] = &p->entries[k];
	}
	p->info.name = i->name;
	p->info.parent = i->parent ? i->parent : (char *)"";
	p->info.kind = (Containerd__Services__Snapshots__V1__Kind)i->kind;
	set_ts(&p->created, i->created_ns);
	set_ts(&p->updated, i->updated_ns);
	p->info.created_at = &p->created;
	p->info.updated_at = &p->updated;
	p->info.n_labels = i->n_labels;
	p->info.labels = p->ptrs;
	return 0;
}

static void pbinfo_clear(struct pbinfo *p)
{
	free(p->entries);
	free(p->ptrs);
}

/* Stat and Update replies: message { Info info = 1; }. */
static void reply_info(struct thinsnap_daemon_reply *reply, const ProtobufCMessageDescriptor *d,
		       const struct thinsnap_info *info)
{
	Containerd__Services__Snapshots__V1__StatSnapshotResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_RESPONSE__INIT;
	struct pbinfo p;

	if (pbinfo_init(&p, info) < 0)
		return thinsnap_daemon_reply_error(reply, THINSNAP_CODE_UNKNOWN, "out of memory");
	resp.base.descriptor = d;
	resp.info = &p.info;
	reply_message(reply, &resp.base);
	pbinfo_clear(&p);
}

static void do_stat(struct thinsnap_snapshotter *snap, const void *request,
		    struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__StatSnapshotRequest *req = request;
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *info = NULL;
	struct thinsnap_error err = { 0 };
	int r;

	r = thinsnap_stat(snap, req->key, &info, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_info(reply, &PB(stat_snapshot_response__descriptor), info);
}

/* Nanoseconds since the epoch; 0 for times int64 ns can't hold (Go's zero time, year 1). */
static int64_t ts_ns(const Google__Protobuf__Timestamp *ts)
{
	if (!ts || ts->seconds <= INT64_MIN / 1000000000 || ts->seconds >= INT64_MAX / 1000000000)
		return 0;
	return ts->seconds * 1000000000 + ts->nanos;
}

static void do_update(struct thinsnap_snapshotter *snap, const void *request,
		      struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__UpdateSnapshotRequest *req = request;
	CLEANUP_FREE struct thinsnap_label *labels = NULL;
	CLEANUP(thinsnap_info_freep) struct thinsnap_info *out = NULL;
	struct thinsnap_error err = { 0 };
	struct thinsnap_info in = { 0 };
	int r;

	if (!req->info)
		return thinsnap_daemon_reply_error(reply, THINSNAP_CODE_INVALID_ARGUMENT,
						   "update without info");
	if (LABELS_OF(req->info, &labels) < 0)
		return thinsnap_daemon_reply_error(reply, THINSNAP_CODE_UNKNOWN, "out of memory");
	in.name = req->info->name;
	in.parent = (char *)opt_str(req->info->parent);
	in.kind = (enum thinsnap_kind)req->info->kind;
	in.created_ns = ts_ns(req->info->created_at);
	in.updated_ns = ts_ns(req->info->updated_at);
	in.labels = labels;
	in.n_labels = req->info->n_labels;
	r = thinsnap_update(
		snap, &in, (const char *const *)(req->update_mask ? req->update_mask->paths : NULL),
		req->update_mask ? req->update_mask->n_paths : 0, &out, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_info(reply, &PB(update_snapshot_response__descriptor), out);
}

/* List: infos are packed one by one into the open ListSnapshotsResponse as field 1. */
struct list_state {
	struct thinsnap_buf b;
	size_t msg_start; /* offset of the open message's 5-byte prefix */
	size_t n_in_msg;
};

static size_t varint_len(size_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static void close_msg(struct list_state *st)
{
	put_prefix(st->b.p + st->msg_start, st->b.len - st->msg_start - 5);
	st->n_in_msg = 0;
}

static int list_one(void *userdata, const struct thinsnap_info *info)
{
	struct list_state *st = userdata;
	struct pbinfo p;
	size_t n, need;
	int r;

	r = pbinfo_init(&p, info);
	if (r < 0)
		return r;
	n = protobuf_c_message_get_packed_size(&p.info.base);
	need = 1 + varint_len(n) + n;
	if (st->n_in_msg > 0 &&
	    (st->n_in_msg >= THINSNAP_DAEMON_LIST_BATCH ||
	     st->b.len - st->msg_start - 5 + need > THINSNAP_DAEMON_MAX_MESSAGE))
		close_msg(st);
	if (st->n_in_msg == 0) {
		r = thinsnap_buf_reserve(&st->b, 5);
		if (r < 0)
			goto out;
		st->msg_start = st->b.len;
		st->b.len += 5;
	}
	if (need > THINSNAP_DAEMON_MAX_MESSAGE) {
		r = -EMSGSIZE;
		goto out;
	}
	r = thinsnap_buf_reserve(&st->b, need);
	if (r < 0)
		goto out;
	st->b.p[st->b.len++] = 0x0a; /* field 1, length-delimited */
	for (size_t v = n;; v >>= 7) {
		st->b.p[st->b.len++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		if (v < 0x80)
			break;
	}
	protobuf_c_message_pack(&p.info.base, st->b.p + st->b.len);
	st->b.len += n;
	st->n_in_msg++;
out:
	pbinfo_clear(&p);
	return r;
}

static void do_list(struct thinsnap_snapshotter *snap, const void *request,
		    struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__ListSnapshotsRequest *req = request;
	struct list_state st = { 0 };
	struct thinsnap_error err = { 0 };
	int r;

	r = thinsnap_walk(snap, (const char *const *)req->filters, req->n_filters, list_one, &st,
			  &err);
	if (r < 0) {
		thinsnap_buf_free(&st.b);
		if (r == -EMSGSIZE)
			return thinsnap_daemon_reply_error(reply,
							   THINSNAP_DAEMON_CODE_RESOURCE_EXHAUSTED,
							   "an info exceeds the message limit");
		return reply_errno(reply, r, &err);
	}
	if (st.n_in_msg > 0)
		close_msg(&st);
	/* No snapshot: no message at all, the stream just ends with status 0. */
	reply->body = st.b.p;
	reply->len = st.b.len;
}

static void do_usage(struct thinsnap_snapshotter *snap, const void *request,
		     struct thinsnap_daemon_reply *reply)
{
	const Containerd__Services__Snapshots__V1__UsageRequest *req = request;
	Containerd__Services__Snapshots__V1__UsageResponse resp =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__USAGE_RESPONSE__INIT;
	struct thinsnap_usage_detail u = { 0 };
	struct thinsnap_error err = { 0 };
	const char *keys[1];
	int r;

	/* The size containerd gets is what removing the snapshot frees (its exclusive blocks,
	 * from the pool's metadata), not what it maps beyond its parent: a child that wrote
	 * N bytes shows about N, shared blocks count for nobody. */
	keys[0] = req->key;
	r = thinsnap_usage_detail(snap, keys, 1, &u, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	resp.size = u.exclusive_bytes;
	resp.inodes = u.inodes;
	reply_message(reply, &resp.base);
}

static void do_cleanup(struct thinsnap_snapshotter *snap, const void *request,
		       struct thinsnap_daemon_reply *reply)
{
	struct thinsnap_error err = { 0 };
	int r;

	(void)request; /* CleanupRequest has no fields */
	r = thinsnap_cleanup(snap, &err);
	if (r < 0)
		return reply_errno(reply, r, &err);
	reply_empty(reply);
}

struct thinsnap_daemon_method {
	const char *name;
	bool read;
	const ProtobufCMessageDescriptor *request_type; /* what the request decodes to */
	const char *request_name;                       /* its name in errors */
	void (*call)(struct thinsnap_snapshotter *snap, const void *request,
		     struct thinsnap_daemon_reply *reply);
};

#define METHOD(name, read, call, request)                              \
	{                                                              \
		name, read, &PB(request##__descriptor), #request, call \
	}

static const struct thinsnap_daemon_method methods[] = {
	METHOD("Prepare", false, do_prepare, prepare_snapshot_request),
	METHOD("View", false, do_view, view_snapshot_request),
	METHOD("Mounts", true, do_mounts, mounts_request),
	METHOD("Commit", false, do_commit, commit_snapshot_request),
	METHOD("Remove", false, do_remove, remove_snapshot_request),
	METHOD("Stat", true, do_stat, stat_snapshot_request),
	METHOD("Update", false, do_update, update_snapshot_request),
	METHOD("List", true, do_list, list_snapshots_request),
	METHOD("Usage", true, do_usage, usage_request),
	METHOD("Cleanup", false, do_cleanup, cleanup_request),
};

const struct thinsnap_daemon_method *thinsnap_daemon_method_find(const char *path)
{
	size_t n = strlen(THINSNAP_DAEMON_SERVICE_PREFIX);

	if (!path || strncmp(path, THINSNAP_DAEMON_SERVICE_PREFIX, n) != 0)
		return NULL;
	for (size_t i = 0; i < ELEMENTSOF(methods); i++)
		if (strcmp(path + n, methods[i].name) == 0)
			return &methods[i];
	return NULL;
}

const char *thinsnap_daemon_method_name(const struct thinsnap_daemon_method *m)
{
	return m->name;
}

bool thinsnap_daemon_method_is_read(const struct thinsnap_daemon_method *m)
{
	return m->read;
}

void thinsnap_daemon_method_call(const struct thinsnap_daemon_method *m,
				 struct thinsnap_snapshotter *snap, const uint8_t *msg, size_t len,
				 struct thinsnap_daemon_reply *reply)
{
	CLEANUP_PB ProtobufCMessage *req =
		protobuf_c_message_unpack(m->request_type, NULL, len, msg);
	char verb[16], msgbuf[sizeof(reply->msg) - sizeof(verb) - 2];
	size_t i;

	if (req)
		m->call(snap, req, reply);
	else
		thinsnap_daemon_reply_error(reply, THINSNAP_CODE_INVALID_ARGUMENT,
					    "malformed %s message", m->request_name);
	if (reply->status == 0)
		return;
	/* "remove: snapshot 'x' has children": the verb first, as containerd's own errors
	 * read (its conformance suite looks for "remove"). */
	for (i = 0; m->name[i] && i < sizeof(verb) - 1; i++)
		verb[i] = (char)(m->name[i] | 0x20);
	verb[i] = '\0';
	memcpy(msgbuf, reply->msg, sizeof(msgbuf) - 1);
	msgbuf[sizeof(msgbuf) - 1] = '\0';
	(void)snprintf(reply->msg, sizeof(reply->msg), "%s: %s", verb, msgbuf);
}
