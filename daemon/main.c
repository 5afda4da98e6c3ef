/*
 * thinsnapd: serves containerd's snapshots API (a proxy plugin) for one thinsnap pool on a
 * unix socket. Parses options, resolves the configuration as the thinsnap command does
 * (config/: flag > env > file > default), opens the snapshotter, serves until SIGTERM or
 * SIGINT, then finishes the calls in flight and exits.
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <thinsnap/snapshotter.h>

#include "base/cleanup.h"
#include "base/fileio.h"
#include "config/config.h"
#include "daemon/daemon.h"

#define DEFAULT_ADDRESS    "/run/thinsnap/thinsnapd.sock"
/* A metrics client that sends no whole request in this time is dropped. */
#define METRICS_TIMEOUT_MS 5000

extern char **environ;

static struct thinsnap_daemon_server *the_server;

static void on_signal(int sig)
{
	(void)sig;
	if (the_server)
		thinsnap_daemon_server_stop(the_server);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: thinsnapd [--config FILE] [--state-dir DIR] [--pool NAME] "
		"[--address SOCKET]\n"
		"                 [--metrics-address unix:/PATH|127.0.0.1:PORT|[::1]:PORT]\n"
		"                 [--log-level error|warning|info|debug] [--version] [--help]\n"
		"Serves containerd.services.snapshots.v1.Snapshots on SOCKET (default %s)\n"
		"for the thinsnap pool NAME (default %s) with state in DIR (default %s),\n"
		"and Prometheus metrics on GET /metrics at the metrics address (default: none).\n",
		DEFAULT_ADDRESS, THINSNAP_CONFIG_DEFAULT_POOL, THINSNAP_CONFIG_DEFAULT_STATE_DIR);
	fprintf(f,
		"Configuration as the thinsnap command's: flags, then THINSNAP_STATE_DIR,\n"
		"THINSNAP_POOL, ... from the environment, then FILE (or $THINSNAP_CONFIG,\n"
		"or %s when it exists).\n",
		THINSNAP_CONFIG_DEFAULT_FILE);
}

/* mkdir -p for the socket's directory (0755: the socket itself is 0660). */
static int make_parent(const char *path)
{
	CLEANUP_FREE char *d = strdup(path);
	char *slash;

	if (!d)
		return -ENOMEM;
	slash = strrchr(d, '/');
	if (!slash || slash == d)
		return 0;
	*slash = '\0';
	return thinsnap_mkdir_p(d, 0755);
}

/* Starts the metrics listener (reading gauges from snap); 0, or -errno with the reason logged. */
static int start_metrics(const char *address, struct thinsnap_snapshotter *snap,
			 struct thinsnap_daemon_metrics **ret)
{
	struct thinsnap_daemon_metrics *m = NULL;
	struct thinsnap_error e = { 0 };
	int r = thinsnap_daemon_metrics_new(&m);

	if (r == 0 && strncmp(address, "unix:", 5) == 0)
		r = make_parent(address + 5);
	if (r == 0)
		r = thinsnap_daemon_metrics_listen(m, snap, address, METRICS_TIMEOUT_MS, &e);
	if (r < 0) {
		log_error("metrics on '%s': %s", address, e.msg[0] ? e.msg : strerror(-r));
		thinsnap_daemon_metrics_free(m);
		return r;
	}
	log_info("metrics on %s", address);
	*ret = m;
	return 0;
}

/* flag > env > file > default, exactly as the thinsnap command resolves it. 0 or exit code. */
static int configure(struct thinsnap_config *cfg, const char *file, const char *state_dir,
		     const char *pool)
{
	struct thinsnap_error e = { 0 };
	int r;

	r = thinsnap_config_load(cfg, file, environ, &e);
	if (r == 0)
		r = thinsnap_config_set_flags(cfg, state_dir, pool, &e);
	if (r < 0) {
		log_error("configuration: %s", e.msg);
		return 2;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "pool", required_argument, NULL, 'p' },
		{ "address", required_argument, NULL, 'a' },
		{ "metrics-address", required_argument, NULL, 'm' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	CLEANUP(thinsnap_config_clear) struct thinsnap_config cfg = { 0 };
	struct thinsnap_daemon_monitor_opts mon = { 0 };
	struct thinsnap_daemon_monitor *monitor = NULL;
	struct thinsnap_daemon_streams *streams = NULL;
	struct thinsnap_options opts = THINSNAP_OPTIONS_INIT;
	const char *address = DEFAULT_ADDRESS, *metrics_address = NULL;
	struct thinsnap_daemon_metrics *metrics = NULL;
	const char *config_file = NULL, *state_dir = NULL, *pool = NULL;
	struct thinsnap_snapshotter *snap = NULL;
	struct thinsnap_error err = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	enum thinsnap_log_level level;
	int c, r;

	/*
	 * A long-running process with a few worker threads: a large transient buffer (a List of
	 * 10 000 snapshots) goes back to the system when freed, instead of raising glibc's
	 * dynamic mmap threshold and staying in a heap; two arenas, not one per thread.
	 */
	(void)mallopt(M_MMAP_THRESHOLD, 128 << 10);
	(void)mallopt(M_ARENA_MAX, 2);

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_file = optarg;
			break;
		case 's':
			state_dir = optarg;
			break;
		case 'p':
			pool = optarg;
			break;
		case 'a':
			address = optarg;
			break;
		case 'm':
			metrics_address = optarg;
			break;
		case 'l':
			if (thinsnap_daemon_log_parse_level(optarg, &level) < 0) {
				fprintf(stderr, "thinsnapd: unknown log level '%s'\n", optarg);
				return 2;
			}
			thinsnap_daemon_log_set_level(level);
			break;
		case 'V':
			printf("thinsnapd %s\n", thinsnap_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (thinsnap_config_init(&cfg) < 0) {
		log_error("out of memory");
		return 1;
	}
	r = configure(&cfg, config_file, state_dir, pool);
	if (r != 0)
		return r;
	thinsnap_config_to_options(&cfg, &opts);
	opts.log = thinsnap_daemon_log_lib;
	thinsnap_config_to_autogrow(&cfg, &mon.grow);
	mon.interval_s = cfg.monitor_interval_s;
	mon.warn_margin_percent = cfg.warn_margin_percent;
	if (!metrics_address)
		metrics_address = cfg.metrics_address;

	if (metrics_address && !*metrics_address)
		metrics_address = NULL;
	if (metrics_address) {
		struct thinsnap_daemon_metrics_address ma;
		if (thinsnap_daemon_metrics_parse_address(metrics_address, &ma, &err) < 0) {
			log_error("%s", err.msg);
			return 2;
		}
	}

	r = thinsnap_open(&opts, &snap, &err);
	if (r < 0) {
		log_error("cannot open pool '%s' (state '%s'): %s", opts.pool_name, opts.state_dir,
			  err.msg);
		if (r == -EUCLEAN && strstr(err.msg, "journal"))
			log_error("not starting on a damaged journal; nothing was changed: see the "
				  "plan with 'thinsnap repair --salvage --dry-run', then run "
				  "'thinsnap repair --salvage' (keeps what is valid; unnamed thin "
				  "devices become lost+found/<thin id>)");
		return 1;
	}
	r = thinsnap_daemon_server_new(snap, &the_server);
	if (r < 0) {
		log_error("cannot start the server: %s", strerror(-r));
		thinsnap_free(snap);
		return 1;
	}
	r = make_parent(address);
	if (r >= 0)
		r = thinsnap_daemon_server_listen(the_server, address);
	if (r < 0) {
		log_error("cannot listen on '%s': %s", address, strerror(-r));
		thinsnap_daemon_server_free(the_server);
		thinsnap_free(snap);
		return 1;
	}
	if (metrics_address) {
		r = start_metrics(metrics_address, snap, &metrics);
		if (r < 0) {
			thinsnap_daemon_server_free(the_server);
			thinsnap_free(snap);
			return 1;
		}
		thinsnap_daemon_server_set_metrics(the_server, metrics);
	}
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("serving pool '%s' (state '%s') on %s", opts.pool_name, opts.state_dir, address);
	mon.metrics = metrics;
	r = thinsnap_daemon_monitor_start(snap, opts.pool_name, &mon, &monitor);
	if (r < 0)
		log_error("cannot start the pool monitor: %s", strerror(-r));

	if (thinsnap_daemon_streams_start(snap, opts.state_dir, &streams) < 0)
		log_warning("cannot serve streams in '%s'", opts.state_dir);
	r = thinsnap_daemon_server_run(the_server);
	thinsnap_daemon_streams_stop(streams);
	thinsnap_daemon_monitor_stop(monitor);
	if (r < 0)
		log_error("server failed: %s", strerror(-r));
	struct thinsnap_daemon_server *srv = the_server;
	the_server = NULL;
	thinsnap_daemon_server_free(srv);
	thinsnap_daemon_metrics_free(metrics);
	thinsnap_free(snap);
	log_info("stopped");
	return r < 0 ? 1 : 0;
}
