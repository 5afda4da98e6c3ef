/*
 * Fuzzes unpack/'s image reading: the input is an image archive (an oci-archive or docker
 * save tar: the tar indexer, index.json through nested indexes, manifests, configs, docker's
 * manifest.json). Whatever opens has its layers streamed through the blob reader. A failure
 * must come with a message; nothing may crash, leak or read out of bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <thinsnap/unpack.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct thinsnap_unpack_image *img = NULL;
	struct thinsnap_error err = { 0 };
	char path[64];
	int fd = memfd_create("fuzz-unpack-image", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (thinsnap_unpack_image_open(path, "linux/amd64", NULL, &img, &err) < 0) {
		if (err.err >= 0 || !err.msg[0])
			abort();
		close(fd);
		return 0;
	}
	for (size_t i = 0; i < thinsnap_unpack_image_n_layers(img); i++) {
		struct thinsnap_unpack_layer l;
		thinsnap_unpack_read_fn rd;
		void *ud;
		char buf[4096];
		size_t n;

		if (thinsnap_unpack_image_layer(img, i, &l) < 0 || !l.chain_id || !l.diff_id)
			abort();
		if (thinsnap_unpack_image_open_layer(img, i, &rd, &ud, &err) < 0)
			continue;
		while (rd(ud, buf, sizeof(buf), &n) == 0 && n > 0)
			;
	}
	thinsnap_unpack_image_free(img);
	close(fd);
	return 0;
}
