/*
 * Mount options as a snapshot's mounts and fstab carry them ("ro", "nosuid", "nouuid",
 * "errors=remount-ro", ...) turned into mount(2)'s flags and its filesystem data string.
 */
#pragma once

#include <stddef.h>

/*
 * Known flag words set or clear flags in order ("ro" then "rw" leaves read-write): ro/rw,
 * nosuid/suid, nodev/dev, noexec/exec, sync/async, noatime/atime, nodiratime,
 * relatime/norelatime, strictatime, dirsync, bind, rbind, defaults. Empty options are
 * skipped; the rest are joined with ',' into *ret_data (malloc'd, "" when none; pass NULL to
 * mount(2) then). options may be NULL when n is 0. -ENOMEM.
 */
int thinsnap_mountopt_parse(const char *const *options, size_t n, unsigned long *ret_flags,
			    char **ret_data);
