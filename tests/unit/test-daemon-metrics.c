/* daemon/metrics.c: the exposition text for known counters and gauges (exact lines, cumulative
 * buckets, +Inf, _sum, _count), metrics_address parsing (loopback only), and the HTTP listener
 * on a unix socket: 200/404/405/400, and a stuck client neither blocks others nor stays. */
/* cmocka.h needs these first */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
/* clang-format on */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void assert_has(const char *text, const char *want)
{
	if (!strstr(text, want))
		fail_msg("missing:\n%s\n--- in:\n%s", want, text);
}

static void test_format(void **state)
{
	struct thinsnap_daemon_metrics *m = NULL;
	struct thinsnap_daemon_gauges g = { 0 };
	char *text = NULL;
	size_t len = 0;
	(void)state;

	assert_int_equal(thinsnap_daemon_metrics_new(&m), 0);
	thinsnap_daemon_metrics_observe(m, "Prepare", 0, 0.0005);
	thinsnap_daemon_metrics_observe(m, "Prepare", 0, 0.2);
	thinsnap_daemon_metrics_observe(m, "Prepare", 6, 0.001); /* on a bound: in that bucket */
	thinsnap_daemon_metrics_observe(m, "Stat", 5, 0.003);
	thinsnap_daemon_metrics_observe(m, "Usage", 99, 50);  /* past every bound; odd code */
	thinsnap_daemon_metrics_observe(m, "Rename", 0, 0.1); /* not a method: ignored */
	g.has_pool = true;
	g.pool.mode = THINSNAP_POOL_MODE_OUT_OF_DATA_SPACE;
	g.pool.needs_check = true;
	g.pool.transaction_id = 42;
	g.pool.used_data_bytes = 1048576;
	g.pool.total_data_bytes = 2147483648;
	g.pool.used_metadata_bytes = 4096;
	g.pool.total_metadata_bytes = 8388608;
	g.has_counts = true;
	g.counts.active = 2;
	g.counts.views = 1;
	g.counts.committed = 3;
	g.counts.pending_deletes = 4;
	g.counts.virtual_bytes = 3221225472; /* 1.5 times the data */
	g.has_capacity = true;
	g.capacity.data_room_bytes = 1000;
	g.capacity.metadata_room_bytes = 2000;
	g.capacity.autogrow_data_bytes = 67108864;
	g.capacity.autogrow_metadata_bytes = 4194304;
	assert_int_equal(thinsnap_daemon_metrics_format(m, &g, &text, &len), 0);
	assert_int_equal(strlen(text), len);

	assert_has(text, "# HELP thinsnapd_grpc_requests_total Calls of the snapshots service "
			 "answered, by method.\n"
			 "# TYPE thinsnapd_grpc_requests_total counter\n"
			 "thinsnapd_grpc_requests_total{method=\"Prepare\"} 3\n"
			 "thinsnapd_grpc_requests_total{method=\"View\"} 0\n"
			 "thinsnapd_grpc_requests_total{method=\"Mounts\"} 0\n"
			 "thinsnapd_grpc_requests_total{method=\"Commit\"} 0\n"
			 "thinsnapd_grpc_requests_total{method=\"Remove\"} 0\n"
			 "thinsnapd_grpc_requests_total{method=\"Stat\"} 1\n"
			 "thinsnapd_grpc_requests_total{method=\"Update\"} 0\n"
			 "thinsnapd_grpc_requests_total{method=\"List\"} 0\n"
			 "thinsnapd_grpc_requests_total{method=\"Usage\"} 1\n"
			 "thinsnapd_grpc_requests_total{method=\"Cleanup\"} 0\n");
	assert_has(text,
		   "# TYPE thinsnapd_grpc_errors_total counter\n"
		   "thinsnapd_grpc_errors_total{method=\"Prepare\",code=\"AlreadyExists\"} 1\n"
		   "thinsnapd_grpc_errors_total{method=\"Stat\",code=\"NotFound\"} 1\n"
		   "thinsnapd_grpc_errors_total{method=\"Usage\",code=\"Unknown\"} 1\n"
		   "# HELP thinsnapd_grpc_request_duration_seconds ");
	assert_int_equal(count(text, "thinsnapd_grpc_errors_total{"), 3);
	assert_has(
		text,
		"# TYPE thinsnapd_grpc_request_duration_seconds histogram\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.001\"} "
		"2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.0025\"} "
		"2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.005\"} "
		"2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.01\"} 2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.025\"} "
		"2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.05\"} 2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.1\"} 2\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.25\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"0.5\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"1\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"2.5\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"5\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"10\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"30\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Prepare\",le=\"+Inf\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_sum{method=\"Prepare\"} 0.2015\n"
		"thinsnapd_grpc_request_duration_seconds_count{method=\"Prepare\"} 3\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"View\",le=\"0.001\"} 0\n");
	assert_has(
		text,
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Usage\",le=\"30\"} 0\n"
		"thinsnapd_grpc_request_duration_seconds_bucket{method=\"Usage\",le=\"+Inf\"} 1\n"
		"thinsnapd_grpc_request_duration_seconds_sum{method=\"Usage\"} 50\n"
		"thinsnapd_grpc_request_duration_seconds_count{method=\"Usage\"} 1\n");
	assert_int_equal(count(text, "le=\"+Inf\""), 10);
	assert_has(text, "# HELP thinsnap_pool_up 1 when the pool's status could be read.\n"
			 "# TYPE thinsnap_pool_up gauge\n"
			 "thinsnap_pool_up 1\n"
			 "# HELP thinsnap_pool_data_used_bytes Data space the pool has allocated.\n"
			 "# TYPE thinsnap_pool_data_used_bytes gauge\n"
			 "thinsnap_pool_data_used_bytes 1048576\n");
	assert_has(text, "\nthinsnap_pool_data_total_bytes 2147483648\n");
	assert_has(text, "\nthinsnap_pool_metadata_used_bytes 4096\n");
	assert_has(text, "\nthinsnap_pool_metadata_total_bytes 8388608\n");
	assert_has(text, "\nthinsnap_pool_needs_check 1\n");
	assert_has(text, "\nthinsnap_pool_transaction_id 42\n");
	assert_has(text, "# TYPE thinsnap_pool_mode gauge\n"
			 "thinsnap_pool_mode{mode=\"rw\"} 0\n"
			 "thinsnap_pool_mode{mode=\"ro\"} 0\n"
			 "thinsnap_pool_mode{mode=\"out_of_data_space\"} 1\n"
			 "thinsnap_pool_mode{mode=\"fail\"} 0\n");
	assert_has(text, "# TYPE thinsnap_snapshots gauge\n"
			 "thinsnap_snapshots{kind=\"active\"} 2\n"
			 "thinsnap_snapshots{kind=\"view\"} 1\n"
			 "thinsnap_snapshots{kind=\"committed\"} 3\n"
			 "# HELP thinsnap_pending_deletes Thin devices waiting for cleanup.\n"
			 "# TYPE thinsnap_pending_deletes gauge\n"
			 "thinsnap_pending_deletes 4\n");
	assert_has(text, "\nthinsnap_snapshots_virtual_bytes 3221225472\n");
	assert_has(text, "# TYPE thinsnap_pool_overcommit_ratio gauge\n"
			 "thinsnap_pool_overcommit_ratio 1.5\n");
	assert_has(text, "# TYPE thinsnap_pool_room_bytes gauge\n"
			 "thinsnap_pool_room_bytes{part=\"data\"} 1000\n"
			 "thinsnap_pool_room_bytes{part=\"metadata\"} 2000\n");
	assert_has(text, "# TYPE thinsnap_pool_autogrow_added_bytes_total counter\n"
			 "thinsnap_pool_autogrow_added_bytes_total{part=\"data\"} 67108864\n"
			 "thinsnap_pool_autogrow_added_bytes_total{part=\"metadata\"} 4194304\n");
	/* every metric has exactly one HELP and one TYPE line */
	assert_int_equal(count(text, "# HELP "), count(text, "# TYPE "));
	assert_int_equal(text[len - 1], '\n');
	free(text);

	/* without gauges: the pool is down and nothing else is made up */
	memset(&g, 0, sizeof(g));
	assert_int_equal(thinsnap_daemon_metrics_format(m, &g, &text, &len), 0);
	assert_has(text, "\nthinsnap_pool_up 0\n");
	assert_null(strstr(text, "thinsnap_pool_data"));
	assert_null(strstr(text, "thinsnap_snapshots"));
	assert_null(strstr(text, "overcommit"));
	assert_null(strstr(text, "room"));
	assert_null(strstr(text, "autogrow"));
	free(text);
	thinsnap_daemon_metrics_free(m);
}

static void test_code_names(void **state)
{
	(void)state;
	assert_string_equal(thinsnap_daemon_code_name(0), "OK");
	assert_string_equal(thinsnap_daemon_code_name(5), "NotFound");
	assert_string_equal(thinsnap_daemon_code_name(9), "FailedPrecondition");
	assert_string_equal(thinsnap_daemon_code_name(16), "Unauthenticated");
	assert_string_equal(thinsnap_daemon_code_name(17), "Unknown");
	assert_string_equal(thinsnap_daemon_code_name(-1), "Unknown");
}

static void test_address(void **state)
{
	static const struct {
		const char *in;
		int family; /* 0: refused */
		unsigned port;
		const char *why; /* part of the message when refused */
	} rows[] = {
		{ "unix:/run/thinsnap/metrics.sock", AF_UNIX, 0, NULL },
		{ "127.0.0.1:9100", AF_INET, 9100, NULL },
		{ "127.1.2.3:1", AF_INET, 1, NULL },
		{ "localhost:65535", AF_INET, 65535, NULL },
		{ "[::1]:9100", AF_INET6, 9100, NULL },
		{ "0.0.0.0:9100", 0, 0, "0.0.0.0 is not a loopback address" },
		{ "10.1.2.3:9100", 0, 0, "not a loopback address" },
		{ "[::]:9100", 0, 0, ":: is not a loopback address" },
		{ "[fe80::1]:9100", 0, 0, "not a loopback address" },
		{ "example.com:80", 0, 0, "not an IP address" },
		{ "127.0.0.1:0", 0, 0, "bad port '0'" },
		{ "127.0.0.1:65536", 0, 0, "bad port" },
		{ "127.0.0.1:", 0, 0, "bad port" },
		{ "127.0.0.1:9x", 0, 0, "bad port" },
		{ "127.0.0.1", 0, 0, "expected unix:/PATH" },
		{ "[::1]9100", 0, 0, "expected [::1]:PORT" },
		{ "unix:relative.sock", 0, 0, "must be absolute" },
		{ "", 0, 0, "empty" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct thinsnap_daemon_metrics_address a = { 0 };
		struct thinsnap_error e = { 0 };
		int r = thinsnap_daemon_metrics_parse_address(rows[i].in, &a, &e);
		if (!rows[i].family) {
			assert_int_equal(r, -EINVAL);
			if (!strstr(e.msg, rows[i].why))
				fail_msg("'%s': message '%s' lacks '%s'", rows[i].in, e.msg,
					 rows[i].why);
			continue;
		}
		if (r != 0)
			fail_msg("'%s' refused: %s", rows[i].in, e.msg);
		assert_int_equal(a.family, rows[i].family);
		assert_int_equal(a.port, rows[i].port);
	}
}

/* ---- the listener ---- */

static char sock_path[108];

static int connect_unix(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	strcpy(sa.sun_path, sock_path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends req on a new connection and returns everything the server sent until it closed. */
static char *exchange(const char *req, size_t req_len)
{
	int fd = connect_unix();
	char *out = NULL;
	size_t len = 0;
	char buf[4096];
	ssize_t n;

	assert_int_equal(send(fd, req, req_len, MSG_NOSIGNAL), (ssize_t)req_len);
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		out = realloc(out, len + (size_t)n + 1);
		assert_non_null(out);
		memcpy(out + len, buf, (size_t)n);
		len += (size_t)n;
	}
	close(fd);
	assert_non_null(out);
	out[len] = '\0';
	return out;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_listener(void **state)
{
	struct thinsnap_daemon_metrics *m = NULL;
	struct thinsnap_error e = { 0 };
	char dir[] = "/tmp/test-metrics.XXXXXX", addr[128], *out;
	static char big[THINSNAP_DAEMON_METRICS_MAX_REQUEST + 100];
	(void)state;

	assert_non_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/m.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", sock_path);
	assert_int_equal(thinsnap_daemon_metrics_new(&m), 0);
	thinsnap_daemon_metrics_observe(m, "Remove", 0, 0.01);
	assert_int_equal(thinsnap_daemon_metrics_listen(m, NULL, addr, 500, &e), 0);

	out = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 34);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_has(out, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n");
	assert_has(out, "\r\n\r\n# HELP thinsnapd_grpc_requests_total ");
	assert_has(out, "thinsnapd_grpc_requests_total{method=\"Remove\"} 1\n");
	assert_has(out, "\nthinsnap_pool_up 0\n");
	/* Content-Length is the body's length */
	size_t cl = 0;
	assert_int_equal(sscanf(strstr(out, "Content-Length: "), "Content-Length: %zu", &cl), 1);
	assert_int_equal(strlen(strstr(out, "\r\n\r\n") + 4), cl);
	free(out);

	out = exchange("GET /metrics?x=1 HTTP/1.0\n\n", 27);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	free(out);
	out = exchange("HEAD /metrics HTTP/1.1\r\n\r\n", 26);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	assert_null(strstr(out, "# HELP"));
	free(out);
	out = exchange("GET / HTTP/1.1\r\n\r\n", 18);
	assert_has(out, "HTTP/1.1 404 Not Found\r\n");
	free(out);
	out = exchange("POST /metrics HTTP/1.1\r\n\r\n", 26);
	assert_has(out, "HTTP/1.1 405 Method Not Allowed\r\n");
	assert_has(out, "Allow: GET, HEAD\r\n");
	free(out);
	memset(big, 'a', sizeof(big));
	out = exchange(big, sizeof(big));
	assert_has(out, "HTTP/1.1 400 Bad Request\r\n");
	free(out);

	/* A client that sends half a request neither blocks the next one nor stays forever. */
	int stuck = connect_unix();
	assert_int_equal(send(stuck, "GET /met", 8, 0), 8);
	int64_t t0 = mono_ms();
	out = exchange("GET /metrics HTTP/1.1\r\n\r\n", 25);
	assert_has(out, "HTTP/1.1 200 OK\r\n");
	free(out);
	assert_true(mono_ms() - t0 < 400);
	struct pollfd p = { stuck, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 3000), 1);
	char c;
	assert_int_equal(recv(stuck, &c, 1, 0), 0); /* closed, without a response */
	assert_true(mono_ms() - t0 >= 400);
	close(stuck);

	thinsnap_daemon_metrics_free(m);
	assert_int_equal(access(sock_path, F_OK), -1); /* the socket is gone */
	rmdir(dir);
}

/* A loopback port: the same answers over TCP (skipped if the port happens to be taken). */
static void test_listener_tcp(void **state)
{
	struct thinsnap_daemon_metrics *m = NULL;
	struct thinsnap_error e = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET };
	unsigned port = 20000 + (unsigned)getpid() % 20000;
	char addr[64], buf[256];
	ssize_t n;
	int fd, r;
	(void)state;

	snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
	assert_int_equal(thinsnap_daemon_metrics_new(&m), 0);
	r = thinsnap_daemon_metrics_listen(m, NULL, addr, 500, &e);
	if (r == -EADDRINUSE) {
		thinsnap_daemon_metrics_free(m);
		skip();
	}
	assert_int_equal(r, 0);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, "GET /metrics HTTP/1.1\r\n\r\n", 25, 0), 25);
	n = recv(fd, buf, sizeof(buf) - 1, MSG_WAITALL);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_has(buf, "HTTP/1.1 200 OK\r\n");
	close(fd);
	thinsnap_daemon_metrics_free(m);
}

static void test_listen_errors(void **state)
{
	struct thinsnap_daemon_metrics *m = NULL;
	struct thinsnap_error e = { 0 };
	char dir[] = "/tmp/test-metrics.XXXXXX", addr[128], path[100];
	(void)state;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(thinsnap_daemon_metrics_new(&m), 0);
	assert_int_equal(thinsnap_daemon_metrics_listen(m, NULL, "0.0.0.0:9100", 500, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a loopback address"));
	/* a regular file where the socket should go is never replaced */
	snprintf(path, sizeof(path), "%s/file", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	assert_int_equal(thinsnap_daemon_metrics_listen(m, NULL, addr, 500, &e), -EEXIST);
	assert_int_equal(access(path, F_OK), 0);
	thinsnap_daemon_metrics_free(m);
	assert_int_equal(access(path, F_OK), 0);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),       cmocka_unit_test(test_code_names),
		cmocka_unit_test(test_address),      cmocka_unit_test(test_listener),
		cmocka_unit_test(test_listener_tcp), cmocka_unit_test(test_listen_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
