/*
 * thinsnapd's Prometheus metrics: per-method call counters, latency histograms and errors by
 * gRPC code (recorded by the server as calls finish), gauges read at scrape time (pool space
 * and mode, snapshots by kind, overcommit), the capacity picture (room to grow, what auto-grow
 * added) cached between scrapes, the text exposition format 0.0.4, and a small HTTP/1.1
 * listener for GET /metrics on a unix socket or a loopback port, on a thread of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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

/* The service's methods, in containerd's .proto order (unknown names are not recorded). */
static const char *const method_names[] = { "Prepare", "View",   "Mounts", "Commit", "Remove",
					    "Stat",    "Update", "List",   "Usage",  "Cleanup" };
#define N_METHODS ELEMENTSOF(method_names)

static const double bucket_bounds[] = { THINSNAP_DAEMON_METRICS_BUCKETS };
#define N_BUCKETS ELEMENTSOF(bucket_bounds)

#define N_CODES     17 /* gRPC codes 0..16 */
#define MAX_CLIENTS 8

struct method_stats {
	uint64_t count;
	uint64_t in_bucket[N_BUCKETS + 1]; /* per bucket, not cumulative; the last is +Inf */
	double sum_seconds;
	uint64_t errors[N_CODES];
};

struct client {
	int fd; /* -1: a free slot */
	int64_t deadline_ms;
	char in[THINSNAP_DAEMON_METRICS_MAX_REQUEST];
	size_t in_len;
	char *out; /* the response, once the request is complete */
	size_t out_len, out_off;
};

struct thinsnap_daemon_metrics {
	pthread_mutex_t lock; /* guards stats */
	struct method_stats stats[N_METHODS];

	/* the listener, when thinsnap_daemon_metrics_listen() started one */
	bool running;
	pthread_t thread;
	int listen_fd;
	int stop_fd;
	char *unix_path;
	struct thinsnap_snapshotter *snap;
	int timeout_ms;
	struct client clients[MAX_CLIENTS];

	/* the capacity picture as last read, by the listener thread only */
	atomic_bool capacity_changed; /* set by the monitor after a grow */
	bool capacity_ok;
	int64_t capacity_read_ms;                              /* 0: never */
	uint64_t capacity_data_bytes, capacity_metadata_bytes; /* the pool's sizes then */
	struct thinsnap_pool_capacity capacity;
};

const char *thinsnap_daemon_code_name(int code)
{
	static const char *const names[N_CODES] = {
		"OK",
		"Canceled",
		"Unknown",
		"InvalidArgument",
		"DeadlineExceeded",
		"NotFound",
		"AlreadyExists",
		"PermissionDenied",
		"ResourceExhausted",
		"FailedPrecondition",
		"Aborted",
		"OutOfRange",
		"Unimplemented",
		"Internal",
		"Unavailable",
		"DataLoss",
		"Unauthenticated",
	};

	return code >= 0 && code < N_CODES ? names[code] : "Unknown";
}

int thinsnap_daemon_metrics_new(struct thinsnap_daemon_metrics **ret)
{
	struct thinsnap_daemon_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->lock, NULL);
	m->listen_fd = m->stop_fd = -1;
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	atomic_init(&m->capacity_changed, false);
	*ret = m;
	return 0;
}

static void client_close(struct client *c)
{
	if (c->fd >= 0)
		(void)close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

void thinsnap_daemon_metrics_free(struct thinsnap_daemon_metrics *m)
{
	uint64_t one = 1;

	if (!m)
		return;
	if (m->running) {
		(void)!write(m->stop_fd, &one, sizeof(one));
		pthread_join(m->thread, NULL);
	}
	for (size_t i = 0; i < MAX_CLIENTS; i++)
		client_close(&m->clients[i]);
	if (m->listen_fd >= 0)
		(void)close(m->listen_fd);
	if (m->stop_fd >= 0)
		(void)close(m->stop_fd);
	if (m->unix_path)
		(void)unlink(m->unix_path);
	free(m->unix_path);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

void thinsnap_daemon_metrics_observe(struct thinsnap_daemon_metrics *m, const char *method,
				     int code, double seconds)
{
	size_t i, b;

	if (!m || !method)
		return;
	for (i = 0; i < N_METHODS && strcmp(method_names[i], method) != 0; i++)
		;
	if (i == N_METHODS)
		return;
	for (b = 0; b < N_BUCKETS && seconds > bucket_bounds[b]; b++)
		;
	pthread_mutex_lock(&m->lock);
	m->stats[i].count++;
	m->stats[i].in_bucket[b]++;
	m->stats[i].sum_seconds += seconds;
	if (code != 0)
		m->stats[i].errors[code > 0 && code < N_CODES ? code : 2]++;
	pthread_mutex_unlock(&m->lock);
}

void thinsnap_daemon_metrics_read_gauges(struct thinsnap_snapshotter *snap,
					 struct thinsnap_daemon_gauges *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!snap)
		return;
	ret->has_pool = thinsnap_status(snap, &ret->pool, NULL) == 0;
	ret->has_counts = thinsnap_counts(snap, &ret->counts, NULL) == 0;
}

void thinsnap_daemon_metrics_capacity_changed(struct thinsnap_daemon_metrics *m)
{
	if (m)
		atomic_store(&m->capacity_changed, true);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The capacity picture into g: from the cache, re-read when it is old, when the monitor grew
 * the pool or when the pool's size changed since (a grow by anyone). */
static void read_capacity(struct thinsnap_daemon_metrics *m, struct thinsnap_daemon_gauges *g)
{
	int64_t now = now_ms();
	bool resized = g->has_pool && (g->pool.total_data_bytes != m->capacity_data_bytes ||
				       g->pool.total_metadata_bytes != m->capacity_metadata_bytes);
	bool grown = atomic_exchange(&m->capacity_changed, false);

	if (grown || resized || m->capacity_read_ms == 0 ||
	    now - m->capacity_read_ms >= THINSNAP_DAEMON_METRICS_CAPACITY_REFRESH_MS) {
		struct thinsnap_error e = { 0 };
		m->capacity_ok = thinsnap_capacity(m->snap, &m->capacity, &e) == 0;
		log_debug("metrics: capacity re-read (%s)%s%s",
			  grown     ? "the pool grew"
			  : resized ? "the pool's size changed"
				    : "timer",
			  m->capacity_ok ? "" : ": ", e.msg);
		m->capacity_read_ms = now > 0 ? now : 1;
		m->capacity_data_bytes = g->pool.total_data_bytes;
		m->capacity_metadata_bytes = g->pool.total_metadata_bytes;
	}
	g->has_capacity = m->capacity_ok;
	g->capacity = m->capacity;
}

static void header(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(FILE *f, const char *name, const char *help, uint64_t v)
{
	header(f, name, "gauge", help);
	fprintf(f, "%s %" PRIu64 "\n", name, v);
}

static void format_calls(FILE *f, const struct method_stats *st)
{
	static const char *const H = "thinsnapd_grpc_request_duration_seconds";

	header(f, "thinsnapd_grpc_requests_total", "counter",
	       "Calls of the snapshots service answered, by method.");
	for (size_t i = 0; i < N_METHODS; i++)
		fprintf(f, "thinsnapd_grpc_requests_total{method=\"%s\"} %" PRIu64 "\n",
			method_names[i], st[i].count);
	header(f, "thinsnapd_grpc_errors_total", "counter",
	       "Calls answered with an error, by method and gRPC code.");
	for (size_t i = 0; i < N_METHODS; i++)
		for (int c = 1; c < N_CODES; c++)
			if (st[i].errors[c])
				fprintf(f,
					"thinsnapd_grpc_errors_total{method=\"%s\",code=\"%s\"} "
					"%" PRIu64 "\n",
					method_names[i], thinsnap_daemon_code_name(c),
					st[i].errors[c]);
	header(f, H, "histogram", "Time from a call's last request byte to its reply, by method.");
	for (size_t i = 0; i < N_METHODS; i++) {
		uint64_t cum = 0;
		for (size_t b = 0; b < N_BUCKETS; b++) {
			cum += st[i].in_bucket[b];
			fprintf(f, "%s_bucket{method=\"%s\",le=\"%g\"} %" PRIu64 "\n", H,
				method_names[i], bucket_bounds[b], cum);
		}
		fprintf(f, "%s_bucket{method=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", H, method_names[i],
			st[i].count);
		fprintf(f, "%s_sum{method=\"%s\"} %.9g\n", H, method_names[i], st[i].sum_seconds);
		fprintf(f, "%s_count{method=\"%s\"} %" PRIu64 "\n", H, method_names[i],
			st[i].count);
	}
}

static void format_pool(FILE *f, const struct thinsnap_pool_status *p)
{
	/* the label values are thinsnap_pool_mode_name()'s, by enum thinsnap_pool_mode */
	static const char *const modes[] = { "rw", "ro", "out_of_data_space", "fail" };

	gauge(f, "thinsnap_pool_data_used_bytes", "Data space the pool has allocated.",
	      p->used_data_bytes);
	gauge(f, "thinsnap_pool_data_total_bytes", "The pool's data space.", p->total_data_bytes);
	gauge(f, "thinsnap_pool_metadata_used_bytes", "Metadata space the pool has allocated.",
	      p->used_metadata_bytes);
	gauge(f, "thinsnap_pool_metadata_total_bytes", "The pool's metadata space.",
	      p->total_metadata_bytes);
	gauge(f, "thinsnap_pool_needs_check", "1 when the kernel flagged the pool's metadata.",
	      p->needs_check);
	gauge(f, "thinsnap_pool_transaction_id", "The pool's transaction id.", p->transaction_id);
	header(f, "thinsnap_pool_mode", "gauge", "1 for the pool's current mode.");
	for (size_t i = 0; i < ELEMENTSOF(modes); i++)
		fprintf(f, "thinsnap_pool_mode{mode=\"%s\"} %d\n", modes[i], (size_t)p->mode == i);
}

/* Per part: the data's and the metadata's values of one metric. */
static void parts(FILE *f, const char *name, const char *type, const char *help, uint64_t data,
		  uint64_t metadata)
{
	header(f, name, type, help);
	fprintf(f, "%s{part=\"data\"} %" PRIu64 "\n", name, data);
	fprintf(f, "%s{part=\"metadata\"} %" PRIu64 "\n", name, metadata);
}

static void format_capacity(FILE *f, const struct thinsnap_daemon_gauges *g)
{
	if (g->has_pool && g->has_counts) {
		gauge(f, "thinsnap_snapshots_virtual_bytes",
		      "The sum of the snapshots' sizes (what they may fill).",
		      g->counts.virtual_bytes);
		header(f, "thinsnap_pool_overcommit_ratio", "gauge",
		       "The snapshots' sizes over the pool's data size.");
		fprintf(f, "thinsnap_pool_overcommit_ratio %.9g\n",
			g->pool.total_data_bytes
				? (double)g->counts.virtual_bytes / (double)g->pool.total_data_bytes
				: 0.0);
	}
	if (!g->has_capacity)
		return;
	parts(f, "thinsnap_pool_room_bytes", "gauge",
	      "What the pool can still grow by: the volume group's free space, the loop file's "
	      "filesystem's, a device's beyond the pool (re-read at most every 30 s).",
	      g->capacity.data_room_bytes, g->capacity.metadata_room_bytes);
	parts(f, "thinsnap_pool_autogrow_added_bytes_total", "counter",
	      "What auto-grow added to the pool since its creation.",
	      g->capacity.autogrow_data_bytes, g->capacity.autogrow_metadata_bytes);
}

static void format_counts(FILE *f, const struct thinsnap_counts *n)
{
	header(f, "thinsnap_snapshots", "gauge", "Snapshots in the journal, by kind.");
	fprintf(f, "thinsnap_snapshots{kind=\"active\"} %zu\n", n->active);
	fprintf(f, "thinsnap_snapshots{kind=\"view\"} %zu\n", n->views);
	fprintf(f, "thinsnap_snapshots{kind=\"committed\"} %zu\n", n->committed);
	gauge(f, "thinsnap_pending_deletes", "Thin devices waiting for cleanup.",
	      n->pending_deletes);
}

int thinsnap_daemon_metrics_format(struct thinsnap_daemon_metrics *m,
				   const struct thinsnap_daemon_gauges *g, char **ret,
				   size_t *ret_len)
{
	CLEANUP_FREE struct method_stats *st = malloc(sizeof(m->stats));
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!st)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	memcpy(st, m->stats, sizeof(m->stats));
	pthread_mutex_unlock(&m->lock);
	f = open_memstream(&buf, &len);
	if (!f)
		return -ENOMEM;
	format_calls(f, st);
	gauge(f, "thinsnap_pool_up", "1 when the pool's status could be read.", g->has_pool);
	if (g->has_pool)
		format_pool(f, &g->pool);
	if (g->has_counts)
		format_counts(f, &g->counts);
	format_capacity(f, g);
	if (ferror(f) | fclose(f)) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* ---- the address ---- */

static int parse_port(const char *s, const char *all, uint16_t *ret, struct thinsnap_error *reterr)
{
	size_t n = strlen(s);
	unsigned long v = n && n <= 5 && strspn(s, "0123456789") == n ? strtoul(s, NULL, 10) : 0;

	if (v == 0 || v > 65535)
		return thinsnap_error_setf(reterr, -EINVAL,
					   "metrics address '%s': bad port '%s' (1 to 65535)", all,
					   s);
	*ret = (uint16_t)v;
	return 0;
}

int thinsnap_daemon_metrics_parse_address(const char *s,
					  struct thinsnap_daemon_metrics_address *ret,
					  struct thinsnap_error *reterr)
{
	struct thinsnap_daemon_metrics_address a = { 0 };
	char host[64];
	const char *port;
	int r;

	if (!s || !*s)
		return thinsnap_error_setf(reterr, -EINVAL, "empty metrics address");
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] != '/')
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': the socket path must be "
						   "absolute",
						   s);
		if (strlen(s + 5) >= sizeof(a.path))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': socket path too long", s);
		a.family = AF_UNIX;
		strcpy(a.path, s + 5);
		*ret = a;
		return 0;
	}
	if (s[0] == '[') {
		const char *end = strstr(s, "]:");
		if (!end || (size_t)(end - s - 1) >= sizeof(host))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': expected [::1]:PORT", s);
		memcpy(host, s + 1, (size_t)(end - s - 1));
		host[end - s - 1] = '\0';
		port = end + 2;
		a.family = AF_INET6;
		if (inet_pton(AF_INET6, host, a.ip) != 1)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': bad IPv6 address", s);
		if (!IN6_IS_ADDR_LOOPBACK((struct in6_addr *)a.ip))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': %s is not a loopback "
						   "address (metrics are served only on loopback "
						   "or a unix socket)",
						   s, host);
	} else {
		const char *colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': expected unix:/PATH, "
						   "127.0.0.1:PORT or [::1]:PORT",
						   s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		port = colon + 1;
		a.family = AF_INET;
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		if (inet_pton(AF_INET, host, a.ip) != 1)
			return thinsnap_error_setf(
				reterr, -EINVAL,
				"metrics address '%s': '%s' is not an IP address "
				"(use 127.0.0.1, [::1] or unix:/PATH)",
				s, host);
		if (a.ip[0] != 127)
			return thinsnap_error_setf(reterr, -EINVAL,
						   "metrics address '%s': %s is not a loopback "
						   "address (metrics are served only on loopback "
						   "or a unix socket)",
						   s, host);
	}
	r = parse_port(port, s, &a.port, reterr);
	if (r < 0)
		return r;
	*ret = a;
	return 0;
}

/* ---- the HTTP listener ---- */

static int set_response(struct client *c, const char *status, const char *type, const char *body,
			size_t body_len, bool head)
{
	char *out = NULL;
	int n = asprintf(&out,
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "%sConnection: close\r\n\r\n",
			 status, type, body_len,
			 strncmp(status, "405", 3) == 0 ? "Allow: GET, HEAD\r\n" : "");

	if (n < 0)
		return -ENOMEM;
	if (!head && body_len) {
		char *all = realloc(out, (size_t)n + body_len);
		if (!all) {
			free(out);
			return -ENOMEM;
		}
		memcpy(all + n, body, body_len);
		out = all;
		n += (int)body_len;
	}
	c->out = out;
	c->out_len = (size_t)n;
	c->out_off = 0;
	return 0;
}

static int error_response(struct client *c, const char *status)
{
	char body[64];
	int n = snprintf(body, sizeof(body), "%s\n", status);

	return set_response(c, status, "text/plain; charset=utf-8", body, (size_t)n, false);
}

/* The request (line and headers) is in c->in: builds the response. */
static int respond(struct thinsnap_daemon_metrics *m, struct client *c, bool complete)
{
	CLEANUP_FREE char *body = NULL;
	struct thinsnap_daemon_gauges g;
	char method[16], target[256];
	size_t body_len = 0;
	bool head;
	int r;

	c->in[c->in_len < sizeof(c->in) ? c->in_len : sizeof(c->in) - 1] = '\0';
	if (!complete || sscanf(c->in, "%15s %255s", method, target) != 2)
		return error_response(c, "400 Bad Request");
	target[strcspn(target, "?")] = '\0';
	if (strcmp(target, "/metrics") != 0)
		return error_response(c, "404 Not Found");
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0)
		return error_response(c, "405 Method Not Allowed");
	thinsnap_daemon_metrics_read_gauges(m->snap, &g);
	if (m->snap)
		read_capacity(m, &g);
	r = thinsnap_daemon_metrics_format(m, &g, &body, &body_len);
	if (r < 0)
		return error_response(c, "500 Internal Server Error");
	return set_response(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8", body, body_len,
			    head);
}

static bool request_complete(const struct client *c)
{
	return memmem(c->in, c->in_len, "\r\n\r\n", 4) || memmem(c->in, c->in_len, "\n\n", 2);
}

/* Reads what there is; once the request is whole (or over the limit), builds the response. */
static void client_read(struct thinsnap_daemon_metrics *m, struct client *c)
{
	for (;;) {
		/* one byte stays free for the NUL */
		ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			client_close(c);
			return;
		}
		c->in_len += (size_t)n;
		if (request_complete(c) || c->in_len == sizeof(c->in) - 1)
			break;
	}
	if (respond(m, c, request_complete(c)) < 0) {
		log_warning("metrics: out of memory");
		client_close(c);
	}
}

static void client_write(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			client_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	(void)shutdown(c->fd, SHUT_WR);
	client_close(c);
}

static void accept_client(struct thinsnap_daemon_metrics *m)
{
	int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

	if (fd < 0)
		return;
	for (size_t i = 0; i < MAX_CLIENTS; i++) {
		if (m->clients[i].fd < 0) {
			m->clients[i].fd = fd;
			m->clients[i].deadline_ms = now_ms() + m->timeout_ms;
			return;
		}
	}
	(void)close(fd); /* not polled when full; a race at most */
}

static void *serve(void *userdata)
{
	struct thinsnap_daemon_metrics *m = userdata;
	struct pollfd pfds[2 + MAX_CLIENTS];
	struct client *pc[2 + MAX_CLIENTS];

	for (;;) {
		size_t n = 0, busy = 0;
		int64_t now = now_ms(), next = -1;

		pfds[n++] = (struct pollfd){ m->stop_fd, POLLIN, 0 };
		for (size_t i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = &m->clients[i];
			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) { /* stuck or slow: drop it */
				log_debug("metrics: dropping a client after %d ms", m->timeout_ms);
				client_close(c);
				continue;
			}
			busy++;
			if (next < 0 || c->deadline_ms < next)
				next = c->deadline_ms;
			pc[n] = c;
			pfds[n++] = (struct pollfd){ c->fd, c->out ? POLLOUT : POLLIN, 0 };
		}
		if (busy < MAX_CLIENTS) {
			pc[n] = NULL;
			pfds[n++] = (struct pollfd){ m->listen_fd, POLLIN, 0 };
		}
		if (poll(pfds, n, next < 0 ? -1 : (int)(next - now)) < 0 && errno != EINTR)
			break;
		if (pfds[0].revents)
			break;
		for (size_t i = 1; i < n; i++) {
			if (!pfds[i].revents)
				continue;
			if (!pc[i])
				accept_client(m);
			else if (pc[i]->out)
				client_write(pc[i]);
			else
				client_read(m, pc[i]);
			if (pc[i] && pc[i]->fd >= 0 && pc[i]->out && pfds[i].events == POLLIN)
				client_write(pc[i]); /* a response is ready: try at once */
		}
	}
	return NULL;
}

static int bind_address(const struct thinsnap_daemon_metrics_address *a, char **ret_unix_path)
{
	CLEANUP_CLOSE int fd = -EBADF;
	union {
		struct sockaddr sa;
		struct sockaddr_un un;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len;
	struct stat st;
	int one = 1, r;

	memset(&u, 0, sizeof(u));
	fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (a->family == AF_UNIX) {
		u.un.sun_family = AF_UNIX;
		strcpy(u.un.sun_path, a->path);
		len = sizeof(u.un);
		/* Replace a stale socket, never another kind of file. */
		if (lstat(a->path, &st) == 0) {
			if (!S_ISSOCK(st.st_mode))
				return -EEXIST;
			if (unlink(a->path) < 0)
				return -errno;
		}
	} else if (a->family == AF_INET) {
		u.in.sin_family = AF_INET;
		u.in.sin_port = htons(a->port);
		memcpy(&u.in.sin_addr, a->ip, 4);
		len = sizeof(u.in);
	} else {
		u.in6.sin6_family = AF_INET6;
		u.in6.sin6_port = htons(a->port);
		memcpy(&u.in6.sin6_addr, a->ip, 16);
		len = sizeof(u.in6);
	}
	if (a->family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	mode_t old = umask(0117); /* a unix socket is created 0660 */
	r = bind(fd, &u.sa, len);
	umask(old);
	if (r < 0)
		return -errno;
	if ((a->family == AF_UNIX && chmod(a->path, 0660) < 0) || listen(fd, 16) < 0) {
		r = -errno;
		if (a->family == AF_UNIX)
			(void)unlink(a->path);
		return r;
	}
	if (a->family == AF_UNIX) {
		*ret_unix_path = strdup(a->path);
		if (!*ret_unix_path) {
			(void)unlink(a->path);
			return -ENOMEM;
		}
	}
	return TAKE_FD(fd);
}

int thinsnap_daemon_metrics_listen(struct thinsnap_daemon_metrics *m,
				   struct thinsnap_snapshotter *snap, const char *address,
				   int timeout_ms, struct thinsnap_error *reterr)
{
	struct thinsnap_daemon_metrics_address a;
	int r;

	if (!m || m->running || timeout_ms <= 0)
		return thinsnap_error_setf(reterr, -EINVAL, "metrics: bad arguments");
	r = thinsnap_daemon_metrics_parse_address(address, &a, reterr);
	if (r < 0)
		return r;
	r = bind_address(&a, &m->unix_path);
	if (r < 0)
		return thinsnap_error_setf(reterr, r, "cannot listen: %s", strerror(-r));
	m->listen_fd = r;
	m->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (m->stop_fd < 0)
		return thinsnap_error_setf(reterr, -errno, "eventfd: %s", strerror(errno));
	m->snap = snap;
	m->timeout_ms = timeout_ms;
	r = pthread_create(&m->thread, NULL, serve, m);
	if (r != 0)
		return thinsnap_error_setf(reterr, -r, "cannot start a thread: %s", strerror(r));
	m->running = true;
	return 0;
}
