/*
 * daemon/: gRPC framing and routing over a socketpair, with an nghttp2 client on this side
 * and the server (on tests/lib/fake-snap.c) on a thread: replies, trailers-only errors and
 * their codes, bad requests, List batching, reads overtaking a slow write, graceful stop.
 */
/* cmocka needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"

#define P "/containerd.services.snapshots.v1.Snapshots/"

struct resp {
	int32_t id;
	uint8_t *body;
	size_t len;
	int grpc_status; /* -1: none seen */
	char grpc_message[512];
	int header_blocks;
	bool closed;
};

struct client {
	int fd;
	nghttp2_session *h2;
	struct resp *resps[8];
	size_t n_resps;
};

struct fixture {
	struct thinsnap_snapshotter *snap;
	struct thinsnap_daemon_server *srv;
	pthread_t thread;
	int run_rc;
	struct client cl;
};

static struct resp *find_resp(struct client *cl, int32_t id)
{
	for (size_t i = 0; i < cl->n_resps; i++)
		if (cl->resps[i]->id == id)
			return cl->resps[i];
	return NULL;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	struct resp *r = find_resp(user_data, frame->hd.stream_id);

	(void)h2;
	(void)flags;
	if (!r)
		return 0;
	if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0)
		r->grpc_status = atoi((const char *)value);
	if (namelen == 12 && memcmp(name, "grpc-message", 12) == 0) {
		size_t n = valuelen < sizeof(r->grpc_message) - 1 ? valuelen
								  : sizeof(r->grpc_message) - 1;
		memcpy(r->grpc_message, value, n);
		r->grpc_message[n] = '\0';
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
	struct resp *r = find_resp(user_data, frame->hd.stream_id);

	(void)h2;
	if (r && frame->hd.type == NGHTTP2_HEADERS)
		r->header_blocks++;
	return 0;
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
		   void *user_data)
{
	struct resp *r = find_resp(user_data, id);

	(void)h2;
	(void)flags;
	if (r) {
		r->body = realloc(r->body, r->len + len);
		memcpy(r->body + r->len, data, len);
		r->len += len;
	}
	return 0;
}

static int on_close(nghttp2_session *h2, int32_t id, uint32_t error_code, void *user_data)
{
	struct resp *r = find_resp(user_data, id);

	(void)h2;
	(void)error_code;
	if (r)
		r->closed = true;
	return 0;
}

struct body_src {
	const uint8_t *p;
	size_t len, off;
};

static ssize_t read_req(nghttp2_session *h2, int32_t id, uint8_t *buf, size_t length,
			uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct body_src *b = source->ptr;
	size_t n = b->len - b->off < length ? b->len - b->off : length;

	(void)h2;
	(void)id;
	(void)user_data;
	memcpy(buf, b->p + b->off, n);
	b->off += n;
	if (b->off == b->len) {
		*data_flags |= NGHTTP2_DATA_FLAG_EOF;
		free((void *)b->p);
		free(b);
	}
	return (ssize_t)n;
}

static void client_io(struct client *cl, bool block)
{
	const uint8_t *data;
	ssize_t n;
	uint8_t buf[65536];

	while ((n = nghttp2_session_mem_send(cl->h2, &data)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(cl->fd, data + off, (size_t)(n - off));
			assert_true(w > 0);
			off += w;
		}
	}
	n = recv(cl->fd, buf, sizeof(buf), block ? 0 : MSG_DONTWAIT);
	if (n > 0)
		assert_int_equal(nghttp2_session_mem_recv(cl->h2, buf, (size_t)n), n);
}

#define NV(n, v)                                                                               \
	{                                                                                      \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE \
	}

/* Starts a call with a raw body (prefix included); returns its response record. */
static struct resp *start_raw(struct client *cl, const char *path, const uint8_t *body, size_t len)
{
	nghttp2_nv nva[] = { NV(":method", "POST"),
			     NV(":scheme", "http"),
			     NV(":path", path),
			     NV(":authority", "localhost"),
			     NV("content-type", "application/grpc"),
			     NV("te", "trailers") };
	struct body_src *b = calloc(1, sizeof(*b));
	uint8_t *copy = malloc(len + 1);
	nghttp2_data_provider dp = { .source.ptr = b, .read_callback = read_req };
	struct resp *r = calloc(1, sizeof(*r));

	memcpy(copy, body, len);
	b->p = copy;
	b->len = len;
	r->grpc_status = -1;
	r->id = nghttp2_submit_request(cl->h2, NULL, nva, ELEMENTSOF(nva), &dp, NULL);
	assert_true(r->id > 0);
	assert_true(cl->n_resps < ELEMENTSOF(cl->resps));
	cl->resps[cl->n_resps++] = r;
	return r;
}

static void wait_resp(struct client *cl, struct resp *r)
{
	while (!r->closed)
		client_io(cl, true);
}

static void resp_free(struct client *cl, struct resp *r)
{
	for (size_t i = 0; i < cl->n_resps; i++)
		if (cl->resps[i] == r) {
			cl->resps[i] = cl->resps[--cl->n_resps];
			break;
		}
	free(r->body);
	free(r);
}

static uint8_t *frame_msg(const ProtobufCMessage *m, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *b = malloc(n + 5);

	b[0] = 0;
	b[1] = (uint8_t)(n >> 24);
	b[2] = (uint8_t)(n >> 16);
	b[3] = (uint8_t)(n >> 8);
	b[4] = (uint8_t)n;
	protobuf_c_message_pack(m, b + 5);
	*len = n + 5;
	return b;
}

/* One complete call. */
static struct resp *call(struct client *cl, const char *method, const ProtobufCMessage *m)
{
	char path[128];
	size_t len;
	uint8_t *b = frame_msg(m, &len);
	struct resp *r;

	snprintf(path, sizeof(path), P "%s", method);
	r = start_raw(cl, path, b, len);
	free(b);
	wait_resp(cl, r);
	return r;
}

static void *server_thread(void *arg)
{
	struct fixture *f = arg;

	f->run_rc = thinsnap_daemon_server_run(f->srv);
	return NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct thinsnap_options opts = THINSNAP_OPTIONS_INIT;
	nghttp2_session_callbacks *cbs;
	int sv[2];

	opts.state_dir = "/nonexistent";
	opts.pool_name = "fake";
	thinsnap_daemon_log_set_level(THINSNAP_LOG_ERROR);
	assert_int_equal(thinsnap_open(&opts, &f->snap, NULL), 0);
	assert_int_equal(thinsnap_daemon_server_new(f->snap, &f->srv), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(thinsnap_daemon_server_add_fd(f->srv, sv[0]), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, server_thread, f), 0);
	f->cl.fd = sv[1];
	nghttp2_session_callbacks_new(&cbs);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	assert_int_equal(nghttp2_session_client_new(&f->cl.h2, cbs, &f->cl), 0);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(f->cl.h2, NGHTTP2_FLAG_NONE, NULL, 0), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	thinsnap_daemon_server_stop(f->srv);
	/* Keep the client reading so the server can flush its GOAWAY. */
	shutdown(f->cl.fd, SHUT_WR);
	pthread_join(f->thread, NULL);
	assert_int_equal(f->run_rc, 0);
	while (f->cl.n_resps)
		resp_free(&f->cl, f->cl.resps[0]);
	nghttp2_session_del(f->cl.h2);
	close(f->cl.fd);
	thinsnap_daemon_server_free(f->srv);
	thinsnap_free(f->snap);
	free(f);
	return 0;
}

typedef Containerd__Services__Snapshots__V1__PrepareSnapshotRequest PrepareReq;
typedef Containerd__Services__Snapshots__V1__PrepareSnapshotRequest__LabelsEntry PrepareLabel;

static int prepare(struct client *cl, const char *key, const char *parent, const char *lk,
		   const char *lv)
{
	PrepareReq req = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	PrepareLabel l =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__LABELS_ENTRY__INIT;
	PrepareLabel *ls[1] = { &l };
	struct resp *r;
	int status;

	req.key = (char *)key;
	req.parent = (char *)(parent ? parent : "");
	if (lk) {
		l.key = (char *)lk;
		l.value = (char *)lv;
		req.n_labels = 1;
		req.labels = ls;
	}
	r = call(cl, "Prepare", &req.base);
	status = r->grpc_status;
	if (status == 0) {
		Containerd__Services__Snapshots__V1__PrepareSnapshotResponse *resp;
		assert_true(r->len >= 5);
		resp = containerd__services__snapshots__v1__prepare_snapshot_response__unpack(
			NULL, r->len - 5, r->body + 5);
		assert_non_null(resp);
		assert_int_equal(resp->n_mounts, 1);
		assert_string_equal(resp->mounts[0]->type, "ext4");
		containerd__services__snapshots__v1__prepare_snapshot_response__free_unpacked(resp,
											      NULL);
	}
	resp_free(cl, r);
	return status;
}

static int commit(struct client *cl, const char *name, const char *key)
{
	Containerd__Services__Snapshots__V1__CommitSnapshotRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__COMMIT_SNAPSHOT_REQUEST__INIT;
	struct resp *r;
	int status;

	req.name = (char *)name;
	req.key = (char *)key;
	r = call(cl, "Commit", &req.base);
	status = r->grpc_status;
	if (status == 0)
		assert_int_equal(r->len, 5); /* one empty message */
	resp_free(cl, r);
	return status;
}

static struct resp *stat_call(struct client *cl, const char *key)
{
	Containerd__Services__Snapshots__V1__StatSnapshotRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;

	req.key = (char *)key;
	return call(cl, "Stat", &req.base);
}

static void test_prepare_stat_roundtrip(void **state)
{
	struct fixture *f = *state;
	Containerd__Services__Snapshots__V1__StatSnapshotResponse *resp;
	struct thinsnap_info *info = NULL;
	struct resp *r;

	assert_int_equal(prepare(&f->cl, "ns/1/a", NULL, "k\xc3\xa9y", "v=1,\"x\""), 0);
	r = stat_call(&f->cl, "ns/1/a");
	assert_int_equal(r->grpc_status, 0);
	assert_int_equal(r->header_blocks, 2); /* headers, then trailers */
	resp = containerd__services__snapshots__v1__stat_snapshot_response__unpack(NULL, r->len - 5,
										   r->body + 5);
	assert_non_null(resp);
	assert_string_equal(resp->info->name, "ns/1/a");
	assert_string_equal(resp->info->parent, "");
	assert_int_equal(resp->info->kind, CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__ACTIVE);
	assert_int_equal(resp->info->n_labels, 1);
	assert_string_equal(resp->info->labels[0]->key, "k\xc3\xa9y");
	assert_string_equal(resp->info->labels[0]->value, "v=1,\"x\"");
	/* Timestamps round-trip to the nanosecond. */
	assert_int_equal(thinsnap_stat(f->snap, "ns/1/a", &info, NULL), 0);
	assert_int_equal(resp->info->created_at->seconds * 1000000000 +
				 resp->info->created_at->nanos,
			 info->created_ns);
	assert_int_equal(resp->info->updated_at->seconds * 1000000000 +
				 resp->info->updated_at->nanos,
			 info->updated_ns);
	thinsnap_info_free(info);
	containerd__services__snapshots__v1__stat_snapshot_response__free_unpacked(resp, NULL);
	resp_free(&f->cl, r);
}

/* Keys are arbitrary strings: a newline, an escape sequence, 4 KiB; Prepare (with such a
 * label), Commit and Stat carry them exactly. */
static void test_odd_keys_roundtrip(void **state)
{
	struct fixture *f = *state;
	char big[4097];
	const char *keys[] = { "a\nb\x1b[31mred\\", big };

	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[7] = '\n';
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		Containerd__Services__Snapshots__V1__StatSnapshotResponse *resp;
		struct resp *r;
		char name[4200];

		assert_int_equal(prepare(&f->cl, keys[i], NULL, "l\n", "v\x1b"), 0);
		snprintf(name, sizeof(name), "\n%s", keys[i]);
		name[4096] = '\0'; /* at most 4 KiB too */
		assert_int_equal(commit(&f->cl, name, keys[i]), 0);
		r = stat_call(&f->cl, name);
		assert_int_equal(r->grpc_status, 0);
		resp = containerd__services__snapshots__v1__stat_snapshot_response__unpack(
			NULL, r->len - 5, r->body + 5);
		assert_non_null(resp);
		assert_string_equal(resp->info->name, name);
		assert_int_equal(resp->info->kind,
				 CONTAINERD__SERVICES__SNAPSHOTS__V1__KIND__COMMITTED);
		containerd__services__snapshots__v1__stat_snapshot_response__free_unpacked(resp,
											   NULL);
		resp_free(&f->cl, r);
	}
}

static void test_error_codes(void **state)
{
	struct fixture *f = *state;
	struct resp *r;

	r = stat_call(&f->cl, "nosuch");
	assert_int_equal(r->grpc_status, 5);
	assert_int_equal(r->header_blocks, 1); /* trailers-only */
	assert_int_equal(r->len, 0);
	assert_non_null(strstr(r->grpc_message, "nosuch"));
	resp_free(&f->cl, r);

	assert_int_equal(prepare(&f->cl, "a", NULL, NULL, NULL), 0);
	assert_int_equal(prepare(&f->cl, "a", NULL, NULL, NULL), 6);
	assert_int_equal(prepare(&f->cl, "b", "a", NULL, NULL), 3); /* parent not committed */
	assert_int_equal(prepare(&f->cl, "b", "nosuch", NULL, NULL), 5);
	assert_int_equal(commit(&f->cl, "c", "a"), 0);
	assert_int_equal(prepare(&f->cl, "b", "c", NULL, NULL), 0);

	Containerd__Services__Snapshots__V1__RemoveSnapshotRequest rm =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__REMOVE_SNAPSHOT_REQUEST__INIT;
	rm.key = "c";
	r = call(&f->cl, "Remove", &rm.base);
	assert_int_equal(r->grpc_status, 9); /* has children */
	resp_free(&f->cl, r);
	rm.key = "b";
	r = call(&f->cl, "Remove", &rm.base);
	assert_int_equal(r->grpc_status, 0);
	resp_free(&f->cl, r);
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	static const uint8_t empty[5] = { 0 };
	static const uint8_t garbage[] = { 0, 0, 0, 0, 3, 0x12, 0x7f, 0x01 }; /* truncated field */
	static const uint8_t short_frame[] = { 0, 0, 0, 0, 9, 0x12, 0x01, 'x' };
	static const uint8_t compressed[] = { 1, 0, 0, 0, 0 };
	static const uint8_t huge[] = { 0, 0x01, 0x10, 0, 0 }; /* declares 17 MiB */
	struct resp *r;

	r = start_raw(&f->cl, P "Rename", empty, sizeof(empty));
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, 12);
	resp_free(&f->cl, r);
	r = start_raw(&f->cl, "/containerd.services.content.v1.Content/Info", empty, sizeof(empty));
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, 12);
	resp_free(&f->cl, r);
	r = start_raw(&f->cl, P "Stat", garbage, sizeof(garbage));
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, 3);
	resp_free(&f->cl, r);
	r = start_raw(&f->cl, P "Stat", short_frame, sizeof(short_frame));
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, 3);
	resp_free(&f->cl, r);
	r = start_raw(&f->cl, P "Stat", compressed, sizeof(compressed));
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, 12);
	resp_free(&f->cl, r);
	r = start_raw(&f->cl, P "Stat", huge, sizeof(huge));
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, THINSNAP_DAEMON_CODE_RESOURCE_EXHAUSTED);
	resp_free(&f->cl, r);

	/*
	 * A real 16 MiB + 1 body is not sent from this in-process client: about one run in four
	 * hung with the client blocked on flow control after the server's early refusal (a race
	 * in this test client or in the server's reset path, not yet found). t0602's
	 * TestBadRequests sends it through grpc-go against the real daemon.
	 */

	/* Still serving. */
	assert_int_equal(prepare(&f->cl, "after", NULL, NULL, NULL), 0);
}

/* Counts the infos in a List reply's messages; checks each message's batch size. */
static size_t count_infos(const struct resp *r, size_t *ret_msgs)
{
	size_t infos = 0, msgs = 0;

	for (size_t off = 0; off < r->len;) {
		assert_true(off + 5 <= r->len);
		size_t len = (size_t)r->body[off + 1] << 24 | (size_t)r->body[off + 2] << 16 |
			     (size_t)r->body[off + 3] << 8 | r->body[off + 4];
		assert_true(off + 5 + len <= r->len);
		Containerd__Services__Snapshots__V1__ListSnapshotsResponse *m =
			containerd__services__snapshots__v1__list_snapshots_response__unpack(
				NULL, len, r->body + off + 5);
		assert_non_null(m);
		assert_true(m->n_info <= THINSNAP_DAEMON_LIST_BATCH);
		infos += m->n_info;
		msgs++;
		containerd__services__snapshots__v1__list_snapshots_response__free_unpacked(m,
											    NULL);
		off += 5 + len;
	}
	*ret_msgs = msgs;
	return infos;
}

static void test_list_batches(void **state)
{
	struct fixture *f = *state;
	Containerd__Services__Snapshots__V1__ListSnapshotsRequest req =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__LIST_SNAPSHOTS_REQUEST__INIT;
	char key[32];
	struct resp *r;
	size_t msgs = 0, infos = 0;

	r = call(&f->cl, "List", &req.base); /* nothing yet: no message, status 0 */
	assert_int_equal(r->grpc_status, 0);
	assert_int_equal(r->len, 0);
	resp_free(&f->cl, r);
	for (int i = 0; i < 250; i++) {
		snprintf(key, sizeof(key), "k%03d", i);
		assert_int_equal(prepare(&f->cl, key, NULL, "n", i % 2 ? "odd" : "even"), 0);
	}
	r = call(&f->cl, "List", &req.base);
	assert_int_equal(r->grpc_status, 0);
	infos = count_infos(r, &msgs);
	assert_int_equal(infos, 250);
	assert_int_equal(msgs, 3);
	resp_free(&f->cl, r);

	char *filters[] = { "labels.n==odd,kind==active" };
	req.n_filters = 1;
	req.filters = filters;
	r = call(&f->cl, "List", &req.base);
	assert_int_equal(r->grpc_status, 0);
	assert_int_equal(count_infos(r, &msgs), 125);
	assert_int_equal(msgs, 2);
	resp_free(&f->cl, r);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* With every write taking 400 ms, a Stat sent after three Prepares returns first, quickly. */
static void test_reads_overtake_writes(void **state)
{
	struct fixture *f = *state;
	Containerd__Services__Snapshots__V1__StatSnapshotRequest sreq =
		CONTAINERD__SERVICES__SNAPSHOTS__V1__STAT_SNAPSHOT_REQUEST__INIT;
	PrepareReq req = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	struct resp *slow[3], *fast;
	char key[16];
	uint8_t *b;
	size_t len;
	double t0, t_stat;

	t0 = now_ms();
	for (int i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "w%d", i);
		req.key = key;
		b = frame_msg(&req.base, &len);
		slow[i] = start_raw(&f->cl, P "Prepare", b, len);
		free(b);
	}
	sreq.key = "nosuch";
	b = frame_msg(&sreq.base, &len);
	fast = start_raw(&f->cl, P "Stat", b, len);
	free(b);
	wait_resp(&f->cl, fast);
	t_stat = now_ms() - t0;
	assert_int_equal(fast->grpc_status, 5);
	assert_true(t_stat < 300);
	for (int i = 0; i < 3; i++)
		assert_false(slow[i]->closed);
	for (int i = 0; i < 3; i++) {
		wait_resp(&f->cl, slow[i]);
		assert_int_equal(slow[i]->grpc_status, 0);
		resp_free(&f->cl, slow[i]);
	}
	assert_true(now_ms() - t0 >= 400);
	resp_free(&f->cl, fast);
}

/* A stop while a slow call runs: the call still completes, then run() returns. */
static void test_graceful_stop(void **state)
{
	struct fixture *f = *state;
	PrepareReq req = CONTAINERD__SERVICES__SNAPSHOTS__V1__PREPARE_SNAPSHOT_REQUEST__INIT;
	struct resp *r;
	uint8_t *b;
	size_t len;

	req.key = "inflight";
	b = frame_msg(&req.base, &len);
	r = start_raw(&f->cl, P "Prepare", b, len);
	free(b);
	client_io(&f->cl, false);
	usleep(100 * 1000); /* the server has dispatched it */
	thinsnap_daemon_server_stop(f->srv);
	wait_resp(&f->cl, r);
	assert_int_equal(r->grpc_status, 0);
	assert_true(r->len > 5);
	resp_free(&f->cl, r);
}

static int setup_slow(void **state)
{
	int r;

	setenv("THINSNAP_FAKE_WRITE_DELAY_MS", "400", 1);
	r = setup(state);
	unsetenv("THINSNAP_FAKE_WRITE_DELAY_MS");
	return r;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prepare_stat_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_odd_keys_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_codes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_batches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reads_overtake_writes, setup_slow, teardown),
		cmocka_unit_test_setup_teardown(test_graceful_stop, setup_slow, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
