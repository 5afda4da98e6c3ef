/*
 * The stream verbs: send (a committed snapshot as a stream on stdout, whole or incremental)
 * and receive (a stream on stdin into a new committed snapshot). The format is in
 * docs/stream-format.md.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <thinsnap/stream.h>

#include "base/cleanup.h"
#include "cli/cli.h"

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)

static void print_stats(const char *what, const struct thinsnap_stream_stats *st)
{
	fprintf(stderr,
		"%s: stream %" PRIu64 " bytes, data %" PRIu64 " bytes, holes %" PRIu64
		" bytes, %" PRIu64 " chunks\n",
		what, st->stream_bytes, st->data_bytes, st->hole_bytes, st->chunks);
}

int thinsnap_cli_stream_run(struct thinsnap_cli *c, bool receive, const char *name,
			    const char *base, int fd, struct thinsnap_stream_stats *ret_stats)
{
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	struct thinsnap_error e = { 0 };
	char sock[PATH_MAX];
	int r = -ENOENT;

	/* thinsnapd holds the pool: it does the work, on the descriptor handed to it */
	if (snprintf(sock, sizeof(sock), "%s/%s", c->cfg.state_dir, THINSNAP_STREAM_SOCKET) <
	    (int)sizeof(sock))
		r = thinsnap_stream_remote(sock, receive, name, base, fd, ret_stats, &e);
	if (r == 0)
		return 0;
	if (r != -ENOENT && r != -ECONNREFUSED)
		return thinsnap_cli_fail_err(c, name, r, &e);
	r = thinsnap_cli_open(c, name, false, &s);
	if (r)
		return r;
	e = (struct thinsnap_error){ 0 };
	if (receive)
		r = thinsnap_receive(
			s, name, fd,
			&(struct thinsnap_receive_opts){ .version = THINSNAP_RECEIVE_OPTS_VERSION,
							 .parent = base },
			ret_stats, &e);
	else
		r = thinsnap_send(s, name, fd,
				  &(struct thinsnap_send_opts){
					  .version = THINSNAP_SEND_OPTS_VERSION, .base = base },
				  ret_stats, &e);
	return r < 0 ? thinsnap_cli_fail_err(c, name, r, &e) : 0;
}

/* send [-i BASE] NAME (send) or receive [--parent BASE] NAME: one verb each way. */
static int stream_verb(struct thinsnap_cli *c, int argc, char **argv, bool send)
{
	static const struct option send_opts[] = {
		{ "incremental", required_argument, NULL, 'b' },
		{ "stats", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct option receive_opts[] = {
		{ "parent", required_argument, NULL, 'b' },
		{ "stats", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct thinsnap_stream_stats st = { 0 };
	const char *base = NULL;
	bool stats = false;
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, send ? ":i:" : ":", send ? send_opts : receive_opts,
				  NULL)) != -1) {
		if (opt == 'b' || (send && opt == 'i'))
			base = optarg;
		else if (opt == 's')
			stats = true;
		else
			return thinsnap_cli_bad_option(c, argv, opt);
	}
	if (argc - optind != 1)
		return thinsnap_cli_usage_error(c, "want NAME");
	const char *name = argv[optind];
	if (send) /* a reader that goes away fails the send (EPIPE), which cleans up */
		signal(SIGPIPE, SIG_IGN);
	if (isatty(send ? STDOUT_FILENO : STDIN_FILENO))
		return thinsnap_cli_usage_error(c, "the stream %s: redirect it",
						send ? "goes to stdout" : "comes from stdin");
	r = thinsnap_cli_stream_run(c, !send, name, base, send ? STDOUT_FILENO : STDIN_FILENO, &st);
	if (r)
		return r;
	if (stats)
		print_stats(send ? "send" : "receive", &st);
	return 0;
}

int thinsnap_cli_send(struct thinsnap_cli *c, int argc, char **argv)
{
	return stream_verb(c, argc, argv, true);
}

int thinsnap_cli_receive(struct thinsnap_cli *c, int argc, char **argv)
{
	return stream_verb(c, argc, argv, false);
}
