/* The library version string, set by the Makefile. */
#include <thinsnap/common.h>

const char *thinsnap_version(void)
{
	return THINSNAP_VERSION;
}
