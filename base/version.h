/*
 * The version field of the public options structs (include/thinsnap/: `unsigned int version`
 * first, set by THINSNAP_<NAME>_INIT): the one check every function that takes such a struct
 * makes before it reads another field.
 */
#pragma once

#include <thinsnap/error.h>

/*
 * 0 if version is one this library knows (1 .. known); else -EINVAL and reterr says so, naming
 * the struct (its C name, e.g. "thinsnap_options") and the _INIT macro to start from.
 */
int thinsnap_version_check(unsigned int version, unsigned int known, const char *type,
			   struct thinsnap_error *reterr);
