/*
 * Fuzzes snap/filter's parser and matcher: the input is up to 8 filter strings, one per line;
 * whatever parses is matched against two snapshot-like objects. A failure must be -EINVAL
 * with a message (or -ENOMEM); nothing may crash, leak or read out of bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snap/filter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct obj {
	const char *name, *parent, *kind, *label_key, *label_value;
};

static bool get(void *userdata, const char *const *path, size_t depth, const char **ret)
{
	const struct obj *o = userdata;
	char key[128] = "";

	if (depth == 1 && strcmp(path[0], "name") == 0)
		return (*ret = o->name) != NULL;
	if (depth == 1 && strcmp(path[0], "parent") == 0)
		return (*ret = o->parent) != NULL;
	if (depth == 1 && strcmp(path[0], "kind") == 0)
		return (*ret = o->kind) != NULL;
	if (depth >= 2 && strcmp(path[0], "labels") == 0) {
		for (size_t i = 1; i < depth; i++) {
			if (i > 1)
				strncat(key, ".", sizeof(key) - strlen(key) - 1);
			strncat(key, path[i], sizeof(key) - strlen(key) - 1);
		}
		if (strcmp(key, o->label_key) == 0)
			return (*ret = o->label_value) != NULL;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct obj objs[] = {
		{ "default/1/sha256:aa", NULL, "committed", "containerd.io/gc.root", "2024" },
		{ "héllo", "default/1/sha256:aa", "view", "a.b", "/x/y" },
	};
	char *copy = malloc(size + 1);
	const char *filters[8];
	size_t n = 0;
	struct thinsnap_filter *f = NULL;
	struct thinsnap_error err = { 0 };
	int r;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = '\0';
	for (char *line = copy; line && n < 8;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl++ = '\0';
		filters[n++] = line;
		line = nl;
	}
	r = thinsnap_filter_parse(filters, n, &f, &err);
	if (r < 0) {
		if ((r != -EINVAL && r != -ENOMEM) || err.err != r || !err.msg[0] || f)
			abort();
	} else {
		for (size_t i = 0; i < sizeof(objs) / sizeof(objs[0]); i++)
			(void)thinsnap_filter_match(f, get, (void *)&objs[i]);
		thinsnap_filter_free(f);
	}
	free(copy);
	return 0;
}
