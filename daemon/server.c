/*
 * The gRPC server: cleartext HTTP/2 (nghttp2, one server session per connection) on a unix
 * socket, all on one thread around poll(). A request's body is collected until END_STREAM,
 * its method found by :path, and the call handed to the workers; the reply comes back
 * through the workers' eventfd and goes out as HEADERS + DATA + trailers (grpc-status), or as
 * one trailers-only HEADERS frame for errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"

/* How long a graceful stop waits for in-flight calls before it gives up. */
#define STOP_TIMEOUT_MS 30000
#define N_READERS       2
#define N_WRITERS       2

struct conn;

/* One call on a worker thread. The stream may be gone (reset) by the time it returns. */
struct job {
	struct thinsnap_daemon_task task;
	struct thinsnap_snapshotter *snap;
	const struct thinsnap_daemon_method *m;
	struct conn *conn;
	int32_t stream_id;
	uint8_t *req; /* the message without its prefix */
	size_t req_len;
	struct thinsnap_daemon_reply reply;
	struct timespec start;
};

struct stream {
	struct stream *prev, *next; /* the connection's open streams */
	struct conn *conn;
	int32_t id;
	char path[256];
	uint8_t *in; /* request body as received (prefix included) */
	size_t in_len, in_cap;
	bool answered; /* a reply was submitted; further DATA is dropped */
	bool dispatched;
	uint8_t *out; /* response body */
	size_t out_len, out_off;
	int status;
	char msg[512];
};

struct conn {
	struct conn *next;
	struct thinsnap_daemon_server *srv;
	int fd;
	nghttp2_session *h2;
	uint8_t *pending; /* bytes nghttp2 produced that the socket didn't take yet */
	size_t pending_len, pending_off;
	unsigned jobs; /* calls on workers */
	bool dead;     /* the socket is closed; freed when jobs reaches 0 */
	struct stream *streams;
	bool want_out;
};

struct thinsnap_daemon_server {
	struct thinsnap_snapshotter *snap;
	struct thinsnap_daemon_workers *workers;
	int listen_fd;
	char *listen_path;
	int stop_fd;
	bool stopping;
	struct conn *conns;
	unsigned jobs;
	struct thinsnap_daemon_metrics *metrics; /* NULL: none */
};

static void job_free(struct job *j)
{
	if (!j)
		return;
	free(j->req);
	thinsnap_daemon_reply_clear(&j->reply);
	free(j);
}

static void job_run(struct thinsnap_daemon_task *t)
{
	struct job *j = (struct job *)t;

	thinsnap_daemon_method_call(j->m, j->snap, j->req, j->req_len, &j->reply);
}

static void stream_free(struct stream *s)
{
	if (!s)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		s->conn->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s->in);
	free(s->out);
	free(s);
}

/* grpc-message is percent-encoded: anything outside printable ASCII, and '%'. */
static void percent_encode(const char *in, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)in; *p && o + 4 < size; p++) {
		if (*p >= 0x20 && *p <= 0x7e && *p != '%') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

#define NV(n, v)                                                                               \
	{                                                                                      \
		(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE \
	}

/* A trailers-only reply: one HEADERS frame with END_STREAM. */
static int submit_error(nghttp2_session *h2, struct stream *s, int status, const char *msg)
{
	char code[16], enc[3 * sizeof(s->msg) + 1];

	snprintf(code, sizeof(code), "%d", status);
	percent_encode(msg, enc, sizeof(enc));
	nghttp2_nv nva[] = { NV(":status", "200"), NV("content-type", "application/grpc"),
			     NV("grpc-status", code), NV("grpc-message", enc) };
	s->answered = true;
	return nghttp2_submit_response(h2, s->id, nva, ELEMENTSOF(nva), NULL);
}

static ssize_t read_body(nghttp2_session *h2, int32_t stream_id, uint8_t *buf, size_t length,
			 uint32_t *data_flags, nghttp2_data_source *source, void *user_data)
{
	struct stream *s = source->ptr;
	size_t n = s->out_len - s->out_off;

	(void)user_data;
	if (n > length)
		n = length;
	memcpy(buf, s->out + s->out_off, n);
	s->out_off += n;
	if (s->out_off == s->out_len) {
		nghttp2_nv trailers[] = { NV("grpc-status", "0") };
		*data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(h2, stream_id, trailers, ELEMENTSOF(trailers)) != 0)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

static int submit_ok(nghttp2_session *h2, struct stream *s, uint8_t *body, size_t len)
{
	nghttp2_nv nva[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
	nghttp2_data_provider dp = { .source.ptr = s, .read_callback = read_body };

	s->out = body;
	s->out_len = len;
	s->out_off = 0;
	s->answered = true;
	if (len == 0) {
		/* A stream without messages (an empty List): headers, then the trailers. */
		nghttp2_nv trailers[] = { NV("grpc-status", "0") };
		int r = nghttp2_submit_headers(h2, NGHTTP2_FLAG_NONE, s->id, NULL, nva,
					       ELEMENTSOF(nva), NULL);
		if (r < 0)
			return r;
		return nghttp2_submit_trailer(h2, s->id, trailers, ELEMENTSOF(trailers));
	}
	return nghttp2_submit_response(h2, s->id, nva, ELEMENTSOF(nva), &dp);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The request is complete: check its framing, then hand it to a worker. */
static int dispatch(struct conn *c, struct stream *s)
{
	const struct thinsnap_daemon_method *m = thinsnap_daemon_method_find(s->path);
	struct job *j;

	if (s->answered)
		return 0;
	if (!m) {
		log_warning("%s: unknown method", s->path);
		return submit_error(c->h2, s, THINSNAP_CODE_UNIMPLEMENTED,
				    "unknown method (thinsnapd serves "
				    "containerd.services.snapshots.v1.Snapshots)");
	}
	if (s->in_len < 5 || be32(s->in + 1) != s->in_len - 5) {
		log_warning("%s: malformed gRPC framing (%zu bytes)", s->path, s->in_len);
		return submit_error(c->h2, s, THINSNAP_CODE_INVALID_ARGUMENT,
				    "expected exactly one length-prefixed message");
	}
	if (s->in[0] != 0) {
		log_warning("%s: compressed message", s->path);
		return submit_error(c->h2, s, THINSNAP_CODE_UNIMPLEMENTED,
				    "compressed messages are not supported");
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return submit_error(c->h2, s, THINSNAP_CODE_UNKNOWN, "out of memory");
	j->task.read = thinsnap_daemon_method_is_read(m);
	j->task.run = job_run;
	j->snap = c->srv->snap;
	j->m = m;
	j->conn = c;
	j->stream_id = s->id;
	j->req_len = s->in_len - 5;
	j->req = TAKE_PTR(s->in);
	memmove(j->req, j->req + 5, j->req_len);
	s->in_len = s->in_cap = 0;
	s->dispatched = true;
	clock_gettime(CLOCK_MONOTONIC, &j->start);
	c->jobs++;
	c->srv->jobs++;
	thinsnap_daemon_workers_submit(c->srv->workers, &j->task);
	return 0;
}

static int on_begin_headers(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	struct stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->id = frame->hd.stream_id;
	s->conn = c;
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	return nghttp2_session_set_stream_user_data(h2, s->id, s);
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
		     void *user_data)
{
	struct stream *s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);

	(void)flags;
	(void)user_data;
	if (!s || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		size_t n = valuelen < sizeof(s->path) - 1 ? valuelen : sizeof(s->path) - 1;
		memcpy(s->path, value, n);
		s->path[n] = '\0';
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *h2, uint8_t flags, int32_t stream_id, const uint8_t *data,
			 size_t len, void *user_data)
{
	struct stream *s = nghttp2_session_get_stream_user_data(h2, stream_id);
	size_t cap;
	uint8_t *n;

	(void)flags;
	(void)user_data;
	if (!s || s->answered || s->dispatched)
		return 0;
	if (s->in_len + len > 5 + (size_t)THINSNAP_DAEMON_MAX_MESSAGE) {
		log_warning("%s: request exceeds the %u-byte message limit", s->path,
			    THINSNAP_DAEMON_MAX_MESSAGE);
		free(s->in);
		s->in = NULL;
		s->in_len = s->in_cap = 0;
		return submit_error(h2, s, THINSNAP_DAEMON_CODE_RESOURCE_EXHAUSTED,
				    "request exceeds the 16 MiB message limit");
	}
	if (s->in_len + len > s->in_cap) {
		cap = s->in_cap ? s->in_cap : 1024;
		while (cap < s->in_len + len)
			cap *= 2;
		n = realloc(s->in, cap);
		if (!n)
			return submit_error(h2, s, THINSNAP_CODE_UNKNOWN, "out of memory");
		s->in = n;
		s->in_cap = cap;
	}
	memcpy(s->in + s->in_len, data, len);
	s->in_len += len;
	/* A declared length beyond the limit fails at once, before the body arrives. */
	if (s->in_len >= 5 && be32(s->in + 1) > THINSNAP_DAEMON_MAX_MESSAGE) {
		log_warning("%s: declared message of %u bytes exceeds the limit", s->path,
			    be32(s->in + 1));
		return submit_error(h2, s, THINSNAP_DAEMON_CODE_RESOURCE_EXHAUSTED,
				    "request exceeds the 16 MiB message limit");
	}
	return 0;
}

static int on_frame_recv(nghttp2_session *h2, const nghttp2_frame *frame, void *user_data)
{
	struct conn *c = user_data;
	struct stream *s;

	if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(h2, frame->hd.stream_id);
	if (!s)
		return 0;
	return dispatch(c, s);
}

static int on_stream_close(nghttp2_session *h2, int32_t stream_id, uint32_t error_code,
			   void *user_data)
{
	struct stream *s = nghttp2_session_get_stream_user_data(h2, stream_id);

	(void)error_code;
	(void)user_data;
	if (s) {
		nghttp2_session_set_stream_user_data(h2, stream_id, NULL);
		stream_free(s);
	}
	return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
	static nghttp2_session_callbacks *cbs;

	if (!cbs) {
		if (nghttp2_session_callbacks_new(&cbs) != 0)
			return NULL;
		nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
		nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
		nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
		nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
		nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
	}
	return cbs;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	if (c->h2) {
		nghttp2_session_del(c->h2);
		c->h2 = NULL;
	}
	while (c->streams)
		stream_free(c->streams);
	free(c->pending);
	c->pending = NULL;
	c->pending_len = c->pending_off = 0;
	c->dead = true;
}

/* Writes what nghttp2 has to send; keeps what the socket doesn't take. -errno to close. */
static int conn_flush(struct conn *c)
{
	for (;;) {
		if (c->pending_off < c->pending_len) {
			ssize_t w = send(c->fd, c->pending + c->pending_off,
					 c->pending_len - c->pending_off, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0 && errno == EAGAIN) {
				c->want_out = true;
				return 0;
			}
			if (w < 0)
				return -errno;
			c->pending_off += (size_t)w;
			continue;
		}
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->h2, &data);
		if (n < 0)
			return -EPROTO;
		if (n == 0)
			break;
		uint8_t *p = realloc(c->pending, (size_t)n);
		if (!p)
			return -ENOMEM;
		memcpy(p, data, (size_t)n);
		c->pending = p;
		c->pending_len = (size_t)n;
		c->pending_off = 0;
	}
	c->want_out = false;
	return 0;
}

static bool conn_done(struct conn *c)
{
	return !c->want_out && !nghttp2_session_want_read(c->h2) &&
	       !nghttp2_session_want_write(c->h2);
}

int thinsnap_daemon_server_add_fd(struct thinsnap_daemon_server *srv, int fd)
{
	nghttp2_settings_entry settings[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 1000 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
		{ NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 16 },
	};
	struct conn *c;
	nghttp2_session_callbacks *cbs = callbacks();
	int r;

	if (!cbs) {
		close(fd);
		return -ENOMEM;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	c->fd = fd;
	c->srv = srv;
	if (nghttp2_session_server_new(&c->h2, cbs, c) != 0) {
		close(fd);
		free(c);
		return -ENOMEM;
	}
	/* The server preface: SETTINGS right away. */
	r = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, settings, ELEMENTSOF(settings));
	/* Let the connection-level window match, so big requests flow. */
	if (r == 0)
		r = nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16 << 20);
	if (r == 0)
		r = conn_flush(c);
	if (r != 0) {
		conn_close(c);
		free(c);
		return r < 0 ? r : -EPROTO;
	}
	c->next = srv->conns;
	srv->conns = c;
	return 0;
}

static void conn_read(struct conn *c)
{
	uint8_t buf[65536];

	for (;;) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			if (n < 0)
				log_debug("connection: %s", strerror(errno));
			conn_close(c);
			return;
		}
		ssize_t r = nghttp2_session_mem_recv(c->h2, buf, (size_t)n);
		if (r < 0) {
			log_warning("connection: HTTP/2 error: %s", nghttp2_strerror((int)r));
			/* Let nghttp2 send its GOAWAY, then close. */
			(void)conn_flush(c);
			conn_close(c);
			return;
		}
	}
}

static void finish_job(struct thinsnap_daemon_server *srv, struct job *j)
{
	struct conn *c = j->conn;
	struct timespec end;
	double ms;

	srv->jobs--;
	c->jobs--;
	clock_gettime(CLOCK_MONOTONIC, &end);
	ms = (double)(end.tv_sec - j->start.tv_sec) * 1e3 +
	     (double)(end.tv_nsec - j->start.tv_nsec) / 1e6;
	thinsnap_daemon_metrics_observe(srv->metrics, thinsnap_daemon_method_name(j->m),
					j->reply.status, ms / 1e3);
	if (j->reply.status != 0)
		log_warning("%s: %s (code %d, %.1f ms)", thinsnap_daemon_method_name(j->m),
			    j->reply.msg, j->reply.status, ms);
	else
		log_debug("%s: ok (%.1f ms)", thinsnap_daemon_method_name(j->m), ms);
	if (!c->dead) {
		struct stream *s = nghttp2_session_get_stream_user_data(c->h2, j->stream_id);
		int r = 0;
		if (s && j->reply.status != 0)
			r = submit_error(c->h2, s, j->reply.status, j->reply.msg);
		else if (s)
			r = submit_ok(c->h2, s, TAKE_PTR(j->reply.body), j->reply.len);
		if (r != 0)
			log_warning("%s: cannot send the reply: %s",
				    thinsnap_daemon_method_name(j->m), nghttp2_strerror(r));
		if (conn_flush(c) < 0)
			conn_close(c);
	}
	job_free(j);
}

static void reap(struct thinsnap_daemon_server *srv)
{
	for (struct conn **pc = &srv->conns; *pc;) {
		struct conn *c = *pc;
		if (!c->dead && conn_done(c))
			conn_close(c);
		if (c->dead && c->jobs == 0) {
			*pc = c->next;
			free(c);
		} else {
			pc = &c->next;
		}
	}
}

static void begin_stop(struct thinsnap_daemon_server *srv)
{
	srv->stopping = true;
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		srv->listen_fd = -1;
		if (srv->listen_path)
			unlink(srv->listen_path);
	}
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->dead)
			continue;
		nghttp2_submit_goaway(c->h2, NGHTTP2_FLAG_NONE,
				      nghttp2_session_get_last_proc_stream_id(c->h2),
				      NGHTTP2_NO_ERROR, NULL, 0);
		if (conn_flush(c) < 0)
			conn_close(c);
	}
	log_info("stopping: %u call(s) in flight", srv->jobs);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int thinsnap_daemon_server_run(struct thinsnap_daemon_server *srv)
{
	struct pollfd *pfds = NULL;
	struct conn **pconns = NULL;
	size_t cap = 0;
	int64_t deadline = 0;
	int r = 0;

	for (;;) {
		size_t n = 0, nconns = 0;
		for (struct conn *c = srv->conns; c; c = c->next)
			nconns++;
		if (nconns + 3 > cap) {
			cap = (nconns + 3) * 2;
			struct pollfd *np = realloc(pfds, cap * sizeof(*pfds));
			if (np)
				pfds = np;
			struct conn **nc = realloc(pconns, cap * sizeof(*pconns));
			if (nc)
				pconns = nc;
			if (!np || !nc) {
				r = -ENOMEM;
				break;
			}
		}
		pfds[n++] = (struct pollfd){ srv->stop_fd, POLLIN, 0 };
		pfds[n++] =
			(struct pollfd){ thinsnap_daemon_workers_done_fd(srv->workers), POLLIN, 0 };
		pfds[n++] = (struct pollfd){ srv->listen_fd, POLLIN, 0 }; /* -1 is ignored */
		for (struct conn *c = srv->conns; c; c = c->next) {
			pconns[n] = c;
			pfds[n++] =
				(struct pollfd){ c->dead ? -1 : c->fd,
						 (short)(POLLIN | (c->want_out ? POLLOUT : 0)), 0 };
		}
		if (srv->stopping && srv->jobs == 0 && !srv->conns)
			break;
		int timeout = -1;
		if (srv->stopping) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				log_warning("stopping: %u call(s) still running, giving up",
					    srv->jobs);
				break;
			}
			timeout = (int)(left < 1000 ? left : 1000);
		}
		if (poll(pfds, n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (pfds[0].revents & POLLIN) {
			uint64_t v;
			(void)!read(srv->stop_fd, &v, sizeof(v));
			if (!srv->stopping) {
				deadline = now_ms() + STOP_TIMEOUT_MS;
				begin_stop(srv);
			}
		}
		if (pfds[1].revents & POLLIN) {
			struct thinsnap_daemon_task *t =
				thinsnap_daemon_workers_take_done(srv->workers);
			while (t) {
				struct thinsnap_daemon_task *next = t->next;
				finish_job(srv, (struct job *)t);
				t = next;
			}
		}
		if (srv->listen_fd >= 0 && (pfds[2].revents & POLLIN)) {
			int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0) {
				int q = thinsnap_daemon_server_add_fd(srv, fd);
				if (q < 0)
					log_warning("accept: %s", strerror(-q));
			} else if (errno != EAGAIN && errno != EINTR) {
				log_warning("accept: %s", strerror(errno));
			}
		}
		for (size_t i = 3; i < n; i++) {
			struct conn *c = pconns[i];
			if (c->dead || !pfds[i].revents)
				continue;
			if (pfds[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(c);
			if (!c->dead && conn_flush(c) < 0)
				conn_close(c);
		}
		reap(srv);
	}
	/* Give up on what's left (only after the stop timeout, or on a poll failure). */
	for (struct conn *c = srv->conns; c; c = c->next)
		if (!c->dead)
			conn_close(c);
	free(pfds);
	free(pconns);
	return r;
}

void thinsnap_daemon_server_set_metrics(struct thinsnap_daemon_server *srv,
					struct thinsnap_daemon_metrics *m)
{
	srv->metrics = m;
}

void thinsnap_daemon_server_stop(struct thinsnap_daemon_server *srv)
{
	uint64_t one = 1;

	(void)!write(srv->stop_fd, &one, sizeof(one));
}

int thinsnap_daemon_server_new(struct thinsnap_snapshotter *snap,
			       struct thinsnap_daemon_server **ret)
{
	struct thinsnap_daemon_server *srv = calloc(1, sizeof(*srv));
	int r;

	if (!srv)
		return -ENOMEM;
	srv->snap = snap;
	srv->listen_fd = -1;
	srv->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (srv->stop_fd < 0) {
		r = -errno;
		free(srv);
		return r;
	}
	r = thinsnap_daemon_workers_new(N_READERS, N_WRITERS, &srv->workers);
	if (r < 0) {
		close(srv->stop_fd);
		free(srv);
		return r;
	}
	*ret = srv;
	return 0;
}

void thinsnap_daemon_server_free(struct thinsnap_daemon_server *srv)
{
	if (!srv)
		return;
	/* The workers finish what is queued; finished jobs are then dropped. */
	struct thinsnap_daemon_task *t = thinsnap_daemon_workers_free(srv->workers);
	while (t) {
		struct thinsnap_daemon_task *next = t->next;
		job_free((struct job *)t);
		t = next;
	}
	for (struct conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if (!c->dead)
			conn_close(c);
	}
	while (srv->conns) {
		struct conn *c = srv->conns;
		srv->conns = c->next;
		free(c);
	}
	if (srv->listen_fd >= 0) {
		close(srv->listen_fd);
		if (srv->listen_path)
			unlink(srv->listen_path);
	}
	free(srv->listen_path);
	close(srv->stop_fd);
	free(srv);
}

int thinsnap_daemon_server_listen(struct thinsnap_daemon_server *srv, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	CLEANUP_CLOSE int fd = -EBADF;
	struct stat st;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* Replace a stale socket, never another kind of file. */
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return -EEXIST;
		if (unlink(path) < 0)
			return -errno;
	}
	mode_t old = umask(0117); /* the socket is created 0660 */
	int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0)
		return -errno;
	if (chmod(path, 0660) < 0 || listen(fd, 128) < 0) {
		r = -errno;
		unlink(path);
		return r;
	}
	srv->listen_path = strdup(path);
	if (!srv->listen_path) {
		unlink(path);
		return -ENOMEM;
	}
	srv->listen_fd = TAKE_FD(fd);
	return 0;
}
