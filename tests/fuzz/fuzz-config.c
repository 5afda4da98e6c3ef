/*
 * Fuzzes config/: the TOML subset parser (config_parse.c) over the whole input, and the size
 * (base/parse.c) and boolean (config.c) parsers over its first line. Must never crash, leak
 * or accept a size above 2^63-1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/parse.h"
#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thinsnap_config c;
	struct thinsnap_error e = { 0 };
	char *line;
	uint64_t v = 0;
	bool b = false;
	size_t n = 0;

	if (thinsnap_config_init(&c) < 0)
		return 0;
	if (thinsnap_config_parse(&c, "fuzz", (const char *)data, size, &e) < 0 && !e.msg[0])
		abort(); /* every failure has a message */
	thinsnap_config_clear(&c);

	while (n < size && data[n] != '\n' && data[n] != '\0')
		n++;
	line = malloc(n + 1);
	if (!line)
		return 0;
	memcpy(line, data, n);
	line[n] = '\0';
	if (thinsnap_parse_size(line, &v) == 0 && v > INT64_MAX)
		abort();
	(void)thinsnap_config_parse_bool(line, &b);
	free(line);
	return 0;
}
