/*
 * Mount option words to mount(2) flags (base/mountopt.h): the one table of flag words, used
 * wherever a thinsnap_mount is mounted (the command's --target, unpack's layer mounts).
 */
#include "base/mountopt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "base/cleanup.h"

static const struct {
	const char *name;
	unsigned long set, clear;
} flag_words[] = {
	{ "ro", MS_RDONLY, 0 },
	{ "rw", 0, MS_RDONLY },
	{ "nosuid", MS_NOSUID, 0 },
	{ "suid", 0, MS_NOSUID },
	{ "nodev", MS_NODEV, 0 },
	{ "dev", 0, MS_NODEV },
	{ "noexec", MS_NOEXEC, 0 },
	{ "exec", 0, MS_NOEXEC },
	{ "sync", MS_SYNCHRONOUS, 0 },
	{ "async", 0, MS_SYNCHRONOUS },
	{ "noatime", MS_NOATIME, 0 },
	{ "atime", 0, MS_NOATIME },
	{ "nodiratime", MS_NODIRATIME, 0 },
	{ "relatime", MS_RELATIME, 0 },
	{ "norelatime", 0, MS_RELATIME },
	{ "strictatime", MS_STRICTATIME, 0 },
	{ "dirsync", MS_DIRSYNC, 0 },
	{ "bind", MS_BIND, 0 },
	{ "rbind", MS_BIND | MS_REC, 0 },
	{ "defaults", 0, 0 },
};

static bool apply_flag_word(const char *o, unsigned long *flags)
{
	for (size_t k = 0; k < ELEMENTSOF(flag_words); k++)
		if (strcmp(o, flag_words[k].name) == 0) {
			*flags = (*flags | flag_words[k].set) & ~flag_words[k].clear;
			return true;
		}
	return false;
}

int thinsnap_mountopt_parse(const char *const *options, size_t n, unsigned long *ret_flags,
			    char **ret_data)
{
	CLEANUP_FREE char *data = NULL;
	unsigned long flags = 0;
	size_t size = 1, len = 0;

	for (size_t i = 0; i < n; i++)
		size += strlen(options[i]) + 1;
	data = malloc(size);
	if (!data)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(options[i]);

		if (l == 0 || apply_flag_word(options[i], &flags))
			continue;
		if (len)
			data[len++] = ',';
		memcpy(data + len, options[i], l);
		len += l;
	}
	data[len] = '\0';
	*ret_flags = flags;
	*ret_data = TAKE_PTR(data);
	return 0;
}
