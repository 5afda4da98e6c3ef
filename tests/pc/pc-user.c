/*
 * A program built the way a user of the installed library builds one: `make check-pc`
 * compiles it with the flags thinsnap.pc gives (C17, -pedantic, every public header and
 * options initializer), links it against libthinsnap.a with `pkg-config --static` and against
 * libthinsnap.so, and runs both: it prints the library's version, and computes a layer chain
 * ID, whose sha256 comes from libcrypto, which the library opens on first use (not linked).
 */
#include <stdio.h>
#include <string.h>

#include <thinsnap/common.h>
#include <thinsnap/error.h>
#include <thinsnap/pool.h>
#include <thinsnap/snapshotter.h>
#include <thinsnap/unpack.h>

int main(int argc, char **argv)
{
	struct thinsnap_options o = THINSNAP_OPTIONS_INIT;
	struct thinsnap_pool_create_opts po = THINSNAP_POOL_CREATE_OPTS_INIT;
	struct thinsnap_unpack_options uo = THINSNAP_UNPACK_OPTIONS_INIT;
	struct thinsnap_autogrow_policy g = THINSNAP_AUTOGROW_POLICY_INIT;
	const char *v = thinsnap_version();

	if (o.version != THINSNAP_OPTIONS_VERSION ||
	    po.version != THINSNAP_POOL_CREATE_OPTS_VERSION ||
	    uo.version != THINSNAP_UNPACK_OPTIONS_VERSION ||
	    g.version != THINSNAP_AUTOGROW_POLICY_VERSION) {
		fprintf(stderr, "pc-user: an _INIT macro does not set its version\n");
		return 1;
	}
	/* sha256("<parent> <diff id>"), as sha256sum computes it */
	static const char parent[] =
		"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	static const char diff_id[] =
		"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
	static const char want[] =
		"sha256:ccd722928bd92476ba1745586fed6e45a102504185ad88cd89e01ff116fd146c";
	char chain[THINSNAP_UNPACK_DIGEST_LEN];
	struct thinsnap_error e = { 0 };

	if (thinsnap_unpack_chain_id(parent, diff_id, chain, &e) < 0) {
		fprintf(stderr, "pc-user: chain id: %s\n", e.msg);
		return 1;
	}
	if (strcmp(chain, want) != 0) {
		fprintf(stderr, "pc-user: chain id %s, want %s\n", chain, want);
		return 1;
	}
	printf("%s\n", v);
	/* argv[1]: the version thinsnap.pc says */
	return argc > 1 && strcmp(argv[1], v) != 0;
}
