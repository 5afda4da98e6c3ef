/*
 * Snapshot streams: a committed snapshot as a byte stream (thinsnap_send), whole or as the
 * blocks that differ from a committed ancestor, and a new committed snapshot made from one
 * (thinsnap_receive) on another pool. The format is in docs/stream-format.md.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <thinsnap/common.h>
#include <thinsnap/error.h>
#include <thinsnap/snapshotter.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What a send or receive moved. */
struct thinsnap_stream_stats {
	uint64_t stream_bytes; /* the whole stream, framing included */
	uint64_t data_bytes;   /* block contents carried */
	uint64_t hole_bytes;   /* ranges unmapped (zeros) relative to the base */
	uint64_t chunks;
};

/* thinsnap_send()'s options; start from THINSNAP_SEND_OPTS_INIT. */
struct thinsnap_send_opts {
	unsigned int version; /* THINSNAP_SEND_OPTS_VERSION */
	/* NULL: a whole stream (every mapped block). Else a committed ancestor of the snapshot:
	 * only the blocks that differ from it, found from the pool's metadata. */
	const char *base;
};

#define THINSNAP_SEND_OPTS_VERSION 1
#define THINSNAP_SEND_OPTS_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_SEND_OPTS_VERSION)

/*
 * Writes committed snapshot name as a stream to fd (a file, pipe or socket). Needs a writable
 * handle: the snapshot's thin device is activated read-only while it is read. Errors: -ENOENT
 * (no such snapshot or base), -EINVAL (not committed, base not an ancestor, no unique id),
 * -EPIPE and other write errors of fd, pool errors. What was written before a failure is not
 * a valid stream (it has no end record). *ret_stats (NULL allowed): on success.
 */
THINSNAP_API int thinsnap_send(struct thinsnap_snapshotter *s, const char *name, int fd,
			       const struct thinsnap_send_opts *opts,
			       struct thinsnap_stream_stats *ret_stats,
			       struct thinsnap_error *reterr);

/* thinsnap_receive()'s options; start from THINSNAP_RECEIVE_OPTS_INIT. */
struct thinsnap_receive_opts {
	unsigned int version; /* THINSNAP_RECEIVE_OPTS_VERSION */
	/* An incremental stream's base on this pool: a committed snapshot whose unique id is
	 * the stream's base id (else -EINVAL). NULL for a whole stream. */
	const char *parent;
};

#define THINSNAP_RECEIVE_OPTS_VERSION 1
#define THINSNAP_RECEIVE_OPTS_INIT    THINSNAP_VERSIONED_INIT(THINSNAP_RECEIVE_OPTS_VERSION)

/*
 * Reads a stream from fd into a new thin device and creates committed snapshot name from it,
 * with the stream's unique id, size, filesystem type and labels (a child of opts->parent for
 * an incremental stream). Every checksum is verified and the device flushed before the
 * snapshot is committed; on any failure (bad, truncated or corrupted stream, a read error)
 * nothing is left: no key, no thin device, and the message names the chunk and stream offset.
 * A receive killed part-way is rolled back by the next writer's open (crash recovery).
 * Errors: -EEXIST (name taken), -ENOENT (no such parent), -EINVAL (wrong or missing parent),
 * -EBADMSG (not a stream, checksum mismatch), -EPROTO (truncated), -EOPNOTSUPP (newer
 * version), -ENOSPC, pool and I/O errors.
 */
THINSNAP_API int thinsnap_receive(struct thinsnap_snapshotter *s, const char *name, int fd,
				  const struct thinsnap_receive_opts *opts,
				  struct thinsnap_stream_stats *ret_stats,
				  struct thinsnap_error *reterr);

/*
 * Streams through a process that holds the pool (thinsnapd): it listens on
 * <state_dir>/THINSNAP_STREAM_SOCKET (0600), and a client hands it the stream's file
 * descriptor with the request (SCM_RIGHTS), so the bytes never pass through the socket.
 */
#define THINSNAP_STREAM_SOCKET "stream.sock"

/*
 * Serves one request read from connection conn (a unix socket): a send or receive on s with
 * the passed descriptor, then the reply (status, message, stats). Errors only for a request it
 * could not read or a reply it could not write; the operation's own failure goes to the client.
 */
THINSNAP_API int thinsnap_stream_serve(struct thinsnap_snapshotter *s, int conn,
				       struct thinsnap_error *reterr);

/*
 * Asks the server at socket_path to send name (base: opts' base, NULL for whole) to fd, or
 * (receive) to receive name from fd on parent. -ENOENT / -ECONNREFUSED: no server there (try
 * the pool directly). Else the operation's result, with the server's message in *reterr.
 */
THINSNAP_API int thinsnap_stream_remote(const char *socket_path, bool receive, const char *name,
					const char *base, int fd,
					struct thinsnap_stream_stats *ret_stats,
					struct thinsnap_error *reterr);

#ifdef __cplusplus
}
#endif
