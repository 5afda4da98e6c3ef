/*
 * Fuzzes thinsnapd's method dispatch (daemon/service.c) over the in-memory snapshotter
 * (tests/lib/fake-snap.c), so no pool is needed. The input is a sequence of calls, each one
 * byte choosing the method (modulo the ten), a 16-bit big-endian length, then that many bytes
 * of request body (what reaches service.c after the gRPC prefix). The fake starts with a
 * committed "base" and an active "work" on it, so requests reach the snapshotter's paths too.
 * Every reply must be either an error status with a message and no body, or status 0 and a
 * body of well-framed messages that unpack as the method's response; a body that does not
 * unpack as the method's request must give InvalidArgument.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon.h"
#include "github.com/containerd/containerd/api/services/snapshots/v1/snapshots.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PBD(name) (&containerd__services__snapshots__v1__##name##__descriptor)

static const struct {
	const char *path;
	const ProtobufCMessageDescriptor *req, *resp;
	bool stream; /* List: zero or more messages */
} calls[] = {
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Prepare", PBD(prepare_snapshot_request),
	  PBD(prepare_snapshot_response), false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "View", PBD(view_snapshot_request),
	  PBD(view_snapshot_response), false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Mounts", PBD(mounts_request), PBD(mounts_response),
	  false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Commit", PBD(commit_snapshot_request),
	  &google__protobuf__empty__descriptor, false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Remove", PBD(remove_snapshot_request),
	  &google__protobuf__empty__descriptor, false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Stat", PBD(stat_snapshot_request),
	  PBD(stat_snapshot_response), false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Update", PBD(update_snapshot_request),
	  PBD(update_snapshot_response), false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "List", PBD(list_snapshots_request),
	  PBD(list_snapshots_response), true },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Usage", PBD(usage_request), PBD(usage_response), false },
	{ THINSNAP_DAEMON_SERVICE_PREFIX "Cleanup", PBD(cleanup_request),
	  &google__protobuf__empty__descriptor, false },
};

#define N_CALLS   (sizeof(calls) / sizeof(calls[0]))
#define MAX_CALLS 16

/* Status 0: the body is a sequence of 5-byte-prefixed, uncompressed messages of d. */
static void check_body(const struct thinsnap_daemon_reply *reply, size_t i)
{
	size_t off = 0, n_msgs = 0;

	while (off < reply->len) {
		if (reply->len - off < 5 || reply->body[off] != 0)
			abort();
		size_t n = (size_t)reply->body[off + 1] << 24 | (size_t)reply->body[off + 2] << 16 |
			   (size_t)reply->body[off + 3] << 8 | reply->body[off + 4];
		off += 5;
		if (n > reply->len - off || n > THINSNAP_DAEMON_MAX_MESSAGE)
			abort();
		ProtobufCMessage *m =
			protobuf_c_message_unpack(calls[i].resp, NULL, n, reply->body + off);
		if (!m)
			abort();
		protobuf_c_message_free_unpacked(m, NULL);
		off += n;
		n_msgs++;
	}
	if (!calls[i].stream && n_msgs != 1)
		abort();
}

static void call_one(struct thinsnap_snapshotter *snap, size_t i, const uint8_t *msg, size_t len)
{
	const struct thinsnap_daemon_method *m = thinsnap_daemon_method_find(calls[i].path);
	struct thinsnap_daemon_reply reply = { 0 };
	ProtobufCMessage *req;

	if (!m)
		abort();
	req = protobuf_c_message_unpack(calls[i].req, NULL, len, msg);
	thinsnap_daemon_method_call(m, snap, msg, len, &reply);
	if (!req && reply.status != THINSNAP_CODE_INVALID_ARGUMENT)
		abort(); /* a malformed message is the caller's mistake */
	if (req)
		protobuf_c_message_free_unpacked(req, NULL);
	if (reply.status == 0)
		check_body(&reply, i);
	else if (reply.status < 0 || reply.status > 16 || !reply.msg[0] || reply.body ||
		 !memchr(reply.msg, '\0', sizeof(reply.msg)))
		abort();
	thinsnap_daemon_reply_clear(&reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_snapshotter *snap = NULL;
	struct thinsnap_error err = { 0 };

	if (thinsnap_open(&o, &snap, &err) < 0 ||
	    thinsnap_prepare(snap, "base-active", NULL, NULL, 0, NULL, &err) < 0 ||
	    thinsnap_commit(snap, "base", "base-active", NULL, 0, 0, &err) < 0 ||
	    thinsnap_prepare(snap, "work", "base", NULL, 0, NULL, &err) < 0)
		abort();
	for (size_t off = 0, n = 0; off < size && n < MAX_CALLS; n++) {
		size_t i = data[off++] % N_CALLS, len = 0;

		if (size - off >= 2) {
			len = (size_t)data[off] << 8 | data[off + 1];
			off += 2;
		} else {
			off = size;
		}
		if (len > size - off)
			len = size - off;
		call_one(snap, i, data + off, len);
		off += len;
	}
	thinsnap_free(snap);
	return 0;
}
