/*
 * Running an external tool (thin_check, thin_ls, mkfs.xfs, ...) without a shell and
 * capturing its output. The library does not read PATH: tools are looked up in the system
 * directories.
 */
#pragma once

#include <stddef.h>

/*
 * The path of the executable name: name itself when it contains a '/', else the first of
 * /usr/sbin, /sbin, /usr/bin, /bin, /usr/local/sbin, /usr/local/bin holding it. -ENOENT when
 * none does (or name is not executable), -ENAMETOOLONG when buf is too small, -EINVAL for an
 * empty name.
 */
int thinsnap_spawn_find(const char *name, char *buf, size_t size);

#define THINSNAP_SPAWN_STDERR_MAX 4096 /* bytes of stderr's tail kept */

/*
 * Runs argv[0] (found by thinsnap_spawn_find()) with argv, the caller's environment and
 * stdin on /dev/null, and waits for it. stdout is captured whole into *ret_stdout when that
 * is non-NULL (malloc'd, NUL-terminated, "" when empty), else goes to /dev/null; stderr
 * likewise into *ret_stderr: its last THINSNAP_SPAWN_STDERR_MAX bytes, trailing newlines and
 * spaces trimmed. Returns the exit status (>= 0; 128 + signal when killed) or -errno
 * (-ENOENT: no such tool); ret_* are set only when it returns >= 0.
 */
int thinsnap_spawn_capture(char *const argv[], char **ret_stdout, char **ret_stderr);
