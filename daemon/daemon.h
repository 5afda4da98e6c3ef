/*
 * thinsnapd's internal contract: logging (log.c), the snapshot service methods that turn one
 * protobuf request into one gRPC reply (service.c), the worker threads (work.c) and the gRPC
 * server over nghttp2 (server.c). Uses only the public libthinsnap API.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>

/* ---- logging (stderr, one line per message) ---- */

/* Messages above this level (THINSNAP_LOG_*) are dropped; default THINSNAP_LOG_INFO. */
void thinsnap_daemon_log_set_level(enum thinsnap_log_level level);
/* "error", "warning", "info", "debug"; -EINVAL otherwise. */
int thinsnap_daemon_log_parse_level(const char *s, enum thinsnap_log_level *ret);
void thinsnap_daemon_log(enum thinsnap_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A thinsnap_options.log callback that forwards the library's messages. */
void thinsnap_daemon_log_lib(void *userdata, enum thinsnap_log_level level, const char *msg);

#define log_error(...)   thinsnap_daemon_log(THINSNAP_LOG_ERROR, __VA_ARGS__)
#define log_warning(...) thinsnap_daemon_log(THINSNAP_LOG_WARNING, __VA_ARGS__)
#define log_info(...)    thinsnap_daemon_log(THINSNAP_LOG_INFO, __VA_ARGS__)
#define log_debug(...)   thinsnap_daemon_log(THINSNAP_LOG_DEBUG, __VA_ARGS__)

/* ---- the service: containerd.services.snapshots.v1.Snapshots ---- */

#define THINSNAP_DAEMON_SERVICE_PREFIX "/containerd.services.snapshots.v1.Snapshots/"
/* The gRPC message limit, both ways (containerd's default). */
#define THINSNAP_DAEMON_MAX_MESSAGE    (16u << 20)
/* Infos per ListSnapshotsResponse message on the List stream. */
#define THINSNAP_DAEMON_LIST_BATCH     100

/* gRPC codes the daemon itself produces, beyond enum thinsnap_code. */
#define THINSNAP_DAEMON_CODE_RESOURCE_EXHAUSTED 8
#define THINSNAP_DAEMON_CODE_INTERNAL           13

struct thinsnap_daemon_method;

/* The reply to one call: either status 0 and body, or status != 0 and message. */
struct thinsnap_daemon_reply {
	int status;    /* gRPC status code */
	char msg[512]; /* for status != 0 */
	uint8_t *body; /* length-prefixed gRPC messages (one, or several for List); malloc'd */
	size_t len;
};

/* Finds a method by its HTTP/2 :path; NULL for anything else. */
const struct thinsnap_daemon_method *thinsnap_daemon_method_find(const char *path);
const char *thinsnap_daemon_method_name(const struct thinsnap_daemon_method *m);
/* Reads never wait behind writes: the workers keep threads for them. */
bool thinsnap_daemon_method_is_read(const struct thinsnap_daemon_method *m);
/* Decodes one request message (without the 5-byte prefix), calls the snapshotter and fills
 * *reply (zeroed by the caller). */
void thinsnap_daemon_method_call(const struct thinsnap_daemon_method *m,
				 struct thinsnap_snapshotter *snap, const uint8_t *msg, size_t len,
				 struct thinsnap_daemon_reply *reply);
void thinsnap_daemon_reply_clear(struct thinsnap_daemon_reply *reply);
/* Sets status and a formatted message (for errors found before a method runs). */
void thinsnap_daemon_reply_error(struct thinsnap_daemon_reply *reply, int status, const char *fmt,
				 ...) __attribute__((format(printf, 3, 4)));

/* ---- workers: tasks run on threads, finished tasks come back through an eventfd ---- */

struct thinsnap_daemon_task {
	struct thinsnap_daemon_task *next;
	bool read; /* a read-only call: may run on a reader thread */
	void (*run)(struct thinsnap_daemon_task *t);
};

struct thinsnap_daemon_workers;

/* n_readers threads take only reads; n_writers take writes first, then reads. */
int thinsnap_daemon_workers_new(unsigned n_readers, unsigned n_writers,
				struct thinsnap_daemon_workers **ret);
/* Stops the threads after the queued tasks ran; returns the finished tasks not yet taken. */
struct thinsnap_daemon_task *thinsnap_daemon_workers_free(struct thinsnap_daemon_workers *p);
void thinsnap_daemon_workers_submit(struct thinsnap_daemon_workers *p,
				    struct thinsnap_daemon_task *t);
/* An eventfd that is readable while finished tasks wait. */
int thinsnap_daemon_workers_done_fd(struct thinsnap_daemon_workers *p);
/* Takes every finished task (a list linked by next, oldest first); resets the eventfd. */
struct thinsnap_daemon_task *thinsnap_daemon_workers_take_done(struct thinsnap_daemon_workers *p);

/* ---- the gRPC server ---- */

struct thinsnap_daemon_server;

int thinsnap_daemon_server_new(struct thinsnap_snapshotter *snap,
			       struct thinsnap_daemon_server **ret);
void thinsnap_daemon_server_free(struct thinsnap_daemon_server *srv);
/* Listens on a unix socket at path (replacing a stale one), mode 0660. */
int thinsnap_daemon_server_listen(struct thinsnap_daemon_server *srv, const char *path);
/* Serves an already connected stream socket (tests use a socketpair); takes fd. */
int thinsnap_daemon_server_add_fd(struct thinsnap_daemon_server *srv, int fd);
/* Serves until stopped and every in-flight call finished; returns 0 or -errno. */
int thinsnap_daemon_server_run(struct thinsnap_daemon_server *srv);
/* Asks run() to stop gracefully: no new connections, GOAWAY, finish in-flight calls.
 * Async-signal-safe. */
void thinsnap_daemon_server_stop(struct thinsnap_daemon_server *srv);

/* ---- the pool monitor (monitor.c): dm events, a timer, auto-grow, space warnings ---- */

struct thinsnap_daemon_monitor_opts {
	struct thinsnap_autogrow_policy grow; /* threshold >= 100 or 0: no growth, warnings only */
	unsigned interval_s;                  /* re-read the pool at least this often (>= 1) */
	unsigned warn_margin_percent;         /* warn when free space is within this of a floor */
	struct thinsnap_daemon_metrics *metrics; /* told when the pool grew; NULL: none */
};

struct thinsnap_daemon_monitor;
struct thinsnap_daemon_metrics;

/* Starts the monitor thread on snap (which must outlive it); pool_name is for messages. */
int thinsnap_daemon_monitor_start(struct thinsnap_snapshotter *snap, const char *pool_name,
				  const struct thinsnap_daemon_monitor_opts *opts,
				  struct thinsnap_daemon_monitor **ret);
/* Stops it (within about 250 ms, or once a running grow finished) and frees it. NULL is fine. */
void thinsnap_daemon_monitor_stop(struct thinsnap_daemon_monitor *m);
/* ---- Prometheus metrics (metrics.c) ---- */

struct thinsnap_daemon_metrics;

/* Upper bounds (seconds) of the call latency histogram's buckets, then +Inf. */
#define THINSNAP_DAEMON_METRICS_BUCKETS \
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30
/* A request to the metrics endpoint: at most this many bytes of request line and headers. */
#define THINSNAP_DAEMON_METRICS_MAX_REQUEST 8192

int thinsnap_daemon_metrics_new(struct thinsnap_daemon_metrics **ret);
/* Stops the listener thread (if any) and frees. NULL is fine. */
void thinsnap_daemon_metrics_free(struct thinsnap_daemon_metrics *m);

/* Records one finished call of method (a name thinsnap_daemon_method_name() gives) with its
 * gRPC status code and duration. Thread-safe. Unknown names are ignored. */
void thinsnap_daemon_metrics_observe(struct thinsnap_daemon_metrics *m, const char *method,
				     int code, double seconds);

/* What a scrape reads besides the counters; the has_ flags say which parts were read. */
struct thinsnap_daemon_gauges {
	bool has_pool;
	bool has_counts;
	bool has_capacity; /* room to grow and what auto-grow added (cached, see below) */
	struct thinsnap_pool_status pool;
	struct thinsnap_counts counts;
	struct thinsnap_pool_capacity capacity;
};

/* The capacity picture runs `lvs`: a scrape re-reads it at most this often, or at once after
 * the monitor grew the pool or the pool's size changed. */
#define THINSNAP_DAEMON_METRICS_CAPACITY_REFRESH_MS 30000

/* The pool grew (the monitor): the next scrape re-reads the capacity picture. Thread-safe;
 * NULL is fine. */
void thinsnap_daemon_metrics_capacity_changed(struct thinsnap_daemon_metrics *m);

/* Reads the gauges from the snapshotter (pool status, counts by kind); what fails stays off. */
void thinsnap_daemon_metrics_read_gauges(struct thinsnap_snapshotter *snap,
					 struct thinsnap_daemon_gauges *ret);

/* The text exposition format 0.0.4 of the counters and g, into a malloc'd, NUL-terminated
 * *ret (length *ret_len). -ENOMEM. */
int thinsnap_daemon_metrics_format(struct thinsnap_daemon_metrics *m,
				   const struct thinsnap_daemon_gauges *g, char **ret,
				   size_t *ret_len);

/* gRPC code name as Prometheus labels usually carry it ("NotFound"); "Unknown" past 16. */
const char *thinsnap_daemon_code_name(int code);

/* A parsed metrics_address: "unix:/path", "127.0.0.1:PORT" (any 127.0.0.0/8),
 * "localhost:PORT" or "[::1]:PORT". Anything else, including non-loopback addresses, is
 * -EINVAL with the reason in reterr. */
struct thinsnap_daemon_metrics_address {
	int family; /* AF_UNIX, AF_INET or AF_INET6 */
	char path[108];
	uint8_t ip[16]; /* network order: 4 bytes for AF_INET */
	uint16_t port;
};

int thinsnap_daemon_metrics_parse_address(const char *s,
					  struct thinsnap_daemon_metrics_address *ret,
					  struct thinsnap_error *reterr);

/*
 * Serves GET /metrics (HTTP/1.1, one response per connection, Connection: close) on address
 * from a thread of its own, reading gauges from snap (NULL: counters only). A client that
 * sends no complete request within timeout_ms is dropped; requests over
 * THINSNAP_DAEMON_METRICS_MAX_REQUEST get 400; other paths 404, other methods 405.
 */
int thinsnap_daemon_metrics_listen(struct thinsnap_daemon_metrics *m,
				   struct thinsnap_snapshotter *snap, const char *address,
				   int timeout_ms, struct thinsnap_error *reterr);

/* Calls finished by the server are recorded in m (NULL: none). */
void thinsnap_daemon_server_set_metrics(struct thinsnap_daemon_server *srv,
					struct thinsnap_daemon_metrics *m);

/* ---- the stream socket (stream.c): send and receive for the thinsnap command ---- */

struct thinsnap_daemon_streams;

/* Listens on <state_dir>/stream.sock and serves streams on snap in a thread. -errno. */
int thinsnap_daemon_streams_start(struct thinsnap_snapshotter *snap, const char *state_dir,
				  struct thinsnap_daemon_streams **ret);
/* Stops the thread (after the request in progress) and removes the socket. NULL is fine. */
void thinsnap_daemon_streams_stop(struct thinsnap_daemon_streams *d);
