/*
 * Number and size parsing for command-line values, config values and tool output: decimal
 * digits only (no sign, no space, no "0x"), results untouched on failure.
 */
#pragma once

#include <stdint.h>

/* A whole string of decimal digits. -EINVAL on bad syntax, -ERANGE above UINT64_MAX. */
int thinsnap_parse_u64(const char *s, uint64_t *ret);

/*
 * The decimal digits at the start of s (at least one), for parsing fields out of a line;
 * *ret_end (optional) points after them. -EINVAL if s does not start with a digit, -ERANGE
 * above UINT64_MAX.
 */
int thinsnap_parse_u64_prefix(const char *s, uint64_t *ret, const char **ret_end);

/*
 * A size as containerd's base_image_size (go-units RAMInBytes): a decimal number,
 * optionally with a fraction, an optional space, then an optional k/m/g/t/p (any case)
 * optionally followed by i and/or b: binary multiples, "10GB" = 10 GiB; "512" or "512b"
 * is bytes. -EINVAL on bad syntax, -ERANGE above 2^63-1.
 */
int thinsnap_parse_size(const char *s, uint64_t *ret_bytes);
