/*
 * thinsnapd: serves containerd's snapshots API (a proxy plugin) for one thinsnap pool on a
 * unix socket. Parses options, opens the snapshotter, serves until SIGTERM or SIGINT, then
 * finishes the calls in flight and exits.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thinsnap/snapshotter.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"

#define DEFAULT_STATE_DIR "/var/lib/thinsnap"
#define DEFAULT_POOL      "thinsnap"
#define DEFAULT_ADDRESS   "/run/thinsnap/thinsnapd.sock"

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
		"                 [--log-level error|warning|info|debug] [--version] [--help]\n"
		"Serves containerd.services.snapshots.v1.Snapshots on SOCKET (default %s)\n"
		"for the thinsnap pool NAME (default %s) with state in DIR (default %s).\n",
		DEFAULT_ADDRESS, DEFAULT_POOL, DEFAULT_STATE_DIR);
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
	for (char *p = d + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(d, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(d, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "pool", required_argument, NULL, 'p' },
		{ "address", required_argument, NULL, 'a' },
		{ "log-level", required_argument, NULL, 'l' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct thinsnap_options opts = {
		.state_dir = DEFAULT_STATE_DIR,
		.pool_name = DEFAULT_POOL,
		.log = thinsnap_daemon_log_lib,
	};
	const char *address = DEFAULT_ADDRESS;
	struct thinsnap_snapshotter *snap = NULL;
	struct thinsnap_error err = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	enum thinsnap_log_level level;
	int c, r;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			/* The config file format belongs to the CLI (cli/config.c); until it
			 * lands the daemon takes flags only. */
			fprintf(stderr, "thinsnapd: --config is not supported yet; use flags\n");
			return 2;
		case 's':
			opts.state_dir = optarg;
			break;
		case 'p':
			opts.pool_name = optarg;
			break;
		case 'a':
			address = optarg;
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

	r = thinsnap_open(&opts, &snap, &err);
	if (r < 0) {
		log_error("cannot open pool '%s' (state '%s'): %s", opts.pool_name, opts.state_dir,
			  err.msg);
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
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	log_info("serving pool '%s' (state '%s') on %s", opts.pool_name, opts.state_dir, address);

	r = thinsnap_daemon_server_run(the_server);
	if (r < 0)
		log_error("server failed: %s", strerror(-r));
	struct thinsnap_daemon_server *srv = the_server;
	the_server = NULL;
	thinsnap_daemon_server_free(srv);
	thinsnap_free(snap);
	log_info("stopped");
	return r < 0 ? 1 : 0;
}
