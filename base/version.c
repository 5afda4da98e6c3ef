/* The library version string, set by the Makefile, and the options structs' version check. */
#include "base/version.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>

#include <thinsnap/common.h>

const char *thinsnap_version(void)
{
	return THINSNAP_VERSION;
}

int thinsnap_version_check(unsigned int version, unsigned int known, const char *type,
			   struct thinsnap_error *reterr)
{
	char init[64];
	size_t n = 0;

	if (version >= 1 && version <= known)
		return 0;
	/* "thinsnap_options" -> "THINSNAP_OPTIONS_INIT" */
	for (const char *p = type; *p && n + sizeof("_INIT") < sizeof(init); p++)
		init[n++] = (char)toupper((unsigned char)*p);
	init[n] = '\0';
	return thinsnap_error_setf(reterr, -EINVAL,
				   "%s version %u is not supported (this library knows %u); start "
				   "from %s_INIT",
				   type, version, known, init);
}
