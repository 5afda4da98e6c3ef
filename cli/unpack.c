/*
 * thinsnap unpack SOURCE: imports an image's layers as committed snapshots named by chain ID.
 * A progress bar on a terminal (stderr), one line per layer otherwise; the last line of
 * stdout is the top chain ID. --json prints the chain. A killed unpack leaves no mount behind
 * (the library mounts in a private mount namespace), only an active unpack-<pid>-* key that
 * the next unpack removes.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <thinsnap/unpack.h>

#include "base/cleanup.h"
#include "cli/cli.h"

DEFINE_CLEANUP(struct thinsnap_snapshotter *, thinsnap_free)
DEFINE_CLEANUP(struct thinsnap_unpack_image *, thinsnap_unpack_image_free)

struct ui {
	bool bar;   /* a terminal: redraw one progress line */
	bool lines; /* print a line per layer on stdout */
	bool drawn; /* a progress line is on the terminal, without its newline */
	struct timespec start;
	size_t last_layer;
	double last_draw;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void human(double b, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;

	while (b >= 1024 && u + 1 < ELEMENTSOF(units)) {
		b /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

static void on_progress(void *userdata, size_t layer, size_t n_layers, uint64_t done, int64_t total)
{
	struct ui *ui = userdata;
	double t = now_s();
	char d[32], tot[32], rate[32];

	if (!ui->bar)
		return;
	if (layer != ui->last_layer) {
		ui->last_layer = layer;
		ui->start.tv_sec = (time_t)t;
		ui->start.tv_nsec = (long)((t - (double)(time_t)t) * 1e9);
	}
	if (t - ui->last_draw < 0.1 && (total < 0 || (int64_t)done < total))
		return;
	ui->last_draw = t;
	{
		double el = t - ((double)ui->start.tv_sec + (double)ui->start.tv_nsec / 1e9);

		human((double)done, d, sizeof(d));
		human(total >= 0 ? (double)total : 0, tot, sizeof(tot));
		human(el > 0 ? (double)done / el : 0, rate, sizeof(rate));
	}
	if (total > 0) {
		int width = 30, fill = (int)((double)done * width / (double)total);

		if (fill > width)
			fill = width;
		fprintf(stderr, "\r\033[Klayer %zu/%zu [%.*s%*s] %s / %s  %s/s", layer + 1,
			n_layers, fill, "##############################", width - fill, "", d, tot,
			rate);
	} else {
		fprintf(stderr, "\r\033[Klayer %zu/%zu %s  %s/s", layer + 1, n_layers, d, rate);
	}
	ui->drawn = true;
	fflush(stderr);
}

static void on_layer_done(void *userdata, size_t layer, size_t n_layers, const char *chain_id,
			  bool skipped)
{
	struct ui *ui = userdata;

	if (ui->bar) {
		fprintf(stderr, "\r\033[Klayer %zu/%zu %s %s\n", layer + 1, n_layers, chain_id,
			skipped ? "already present" : "committed");
		ui->drawn = false;
		fflush(stderr);
	} else if (ui->lines) {
		printf("layer %zu/%zu %s %s\n", layer + 1, n_layers, chain_id,
		       skipped ? "present" : "committed");
		fflush(stdout);
	}
}

static int print_json(struct thinsnap_unpack_image *img)
{
	size_t n = thinsnap_unpack_image_n_layers(img);
	struct thinsnap_unpack_layer l;

	/* digests and media types are plain ASCII from validated fields: no escaping needed */
	printf("{\"layers\":[");
	for (size_t i = 0; i < n; i++) {
		(void)thinsnap_unpack_image_layer(img, i, &l);
		printf("%s{\"chain_id\":\"%s\",\"diff_id\":\"%s\",\"digest\":\"%s\"}", i ? "," : "",
		       l.chain_id, l.diff_id, l.digest);
	}
	(void)thinsnap_unpack_image_layer(img, n - 1, &l);
	printf("],\"top\":\"%s\"}\n", l.chain_id);
	return 0;
}

int thinsnap_cli_unpack(struct thinsnap_cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "platform", required_argument, NULL, 'p' },
		{ "ref", required_argument, NULL, 'r' },
		THINSNAP_CLI_OUTPUT_OPTIONS, /* --json, -q */
		{ NULL, 0, NULL, 0 },
	};
	CLEANUP(thinsnap_freep) struct thinsnap_snapshotter *s = NULL;
	CLEANUP(thinsnap_unpack_image_freep) struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_unpack_options uo = THINSNAP_UNPACK_OPTIONS_INIT;
	struct thinsnap_error e = { 0 };
	struct thinsnap_unpack_layer top;
	const char *platform = NULL, *ref = NULL, *source;
	struct ui ui = { .last_layer = (size_t)-1 };
	int opt, r;

	thinsnap_cli_getopt_reset();
	while ((opt = getopt_long(argc, argv, ":p:r:q", opts, NULL)) != -1) {
		r = 0;
		switch (opt) {
		case 'p':
			platform = optarg;
			break;
		case 'r':
			ref = optarg;
			break;
		default: /* --json, -q, or a bad option */
			r = thinsnap_cli_output_option(c, argv, opt);
			break;
		}
		if (r)
			return r;
	}
	if (argc - optind != 1)
		return thinsnap_cli_usage_error(c, "want SOURCE");
	source = argv[optind];

	r = thinsnap_unpack_image_open(source, platform, ref, &img, &e);
	if (r < 0)
		return thinsnap_cli_fail_err(c, source, r, &e);
	if (thinsnap_cli_open(c, source, false, &s) != 0)
		return 1;
	ui.bar = !c->json && !c->quiet && isatty(STDERR_FILENO);
	ui.lines = !c->json && !c->quiet && !ui.bar;
	uo.progress = on_progress;
	uo.layer_done = on_layer_done;
	uo.userdata = &ui;
	r = thinsnap_unpack(s, img, &uo, &e);
	if (ui.drawn) /* a failure in the middle of a layer */
		fprintf(stderr, "\r\033[K");
	if (r < 0)
		return thinsnap_cli_fail_err(c, source, r, &e);
	if (c->json)
		return print_json(img);
	(void)thinsnap_unpack_image_layer(img, thinsnap_unpack_image_n_layers(img) - 1, &top);
	printf("%s\n", top.chain_id);
	return 0;
}
