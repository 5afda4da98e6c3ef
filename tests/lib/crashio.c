/* Crash and failure simulation for meta/'s I/O (see crashio.h). */
#include "crashio.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned rnd(struct crashio *c)
{
	c->seed = c->seed * 1103515245u + 12345u;
	return (c->seed >> 16) & 0x7fff;
}

static ssize_t real_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	ssize_t n = pwrite(fd, buf, len, off);
	return n < 0 ? -errno : n;
}

static ssize_t cio_pwrite(void *ud, int fd, const void *buf, size_t len, off_t off)
{
	struct crashio *c = ud;
	struct crashio_write *w;

	if (c->dead)
		return -EIO;
	c->writes++;
	if (c->fail_write_at && c->writes == c->fail_write_at) {
		if (c->partial && len > 1)
			(void)real_pwrite(fd, buf, len / 2, off);
		return c->err;
	}
	if (!c->crash_at)
		return real_pwrite(fd, buf, len, off);
	w = realloc(c->held, (c->n_held + 1) * sizeof(*w));
	if (!w)
		return -ENOMEM;
	c->held = w;
	w = &c->held[c->n_held];
	w->data = malloc(len ? len : 1);
	if (!w->data)
		return -ENOMEM;
	memcpy(w->data, buf, len);
	w->fd = fd;
	w->off = off;
	w->len = len;
	c->n_held++;
	return (ssize_t)len;
}

static void drop_held(struct crashio *c, int fd, bool all)
{
	size_t k = 0;

	for (size_t i = 0; i < c->n_held; i++) {
		if (all || c->held[i].fd == fd)
			free(c->held[i].data);
		else
			c->held[k++] = c->held[i];
	}
	c->n_held = k;
}

static int cio_sync(void *ud, int fd, bool datasync)
{
	struct crashio *c = ud;

	if (c->dead)
		return -EIO;
	c->syncs++;
	if (c->fail_sync_at && c->syncs == c->fail_sync_at)
		return c->err;
	if (c->crash_at && c->syncs == c->crash_at) {
		/* power loss: some held writes land, the last one torn or garbled */
		for (size_t i = 0; i < c->n_held; i++) {
			struct crashio_write *w = &c->held[i];
			bool last = i + 1 == c->n_held;
			if (!last && rnd(c) % 2)
				continue;
			if (last) {
				size_t keep = w->len ? rnd(c) % (w->len + 1) : 0;
				if (rnd(c) % 3 == 0) /* garble instead of tearing */
					for (size_t j = 0; j < w->len; j += 1 + rnd(c) % 16)
						w->data[j] ^= (unsigned char)(1 + rnd(c) % 255);
				else
					w->len = keep;
			}
			(void)real_pwrite(w->fd, w->data, w->len, w->off);
		}
		drop_held(c, -1, true);
		c->dead = true;
		return -EIO;
	}
	for (size_t i = 0; i < c->n_held; i++)
		if (c->held[i].fd == fd)
			(void)real_pwrite(fd, c->held[i].data, c->held[i].len, c->held[i].off);
	drop_held(c, fd, false);
	if (c->real_sync && (datasync ? fdatasync(fd) : fsync(fd)) < 0)
		return -errno;
	return 0;
}

void crashio_init(struct crashio *c)
{
	memset(c, 0, sizeof(*c));
	c->io.pwrite = cio_pwrite;
	c->io.sync = cio_sync;
	c->io.userdata = c;
	c->err = -EIO;
}

void crashio_done(struct crashio *c)
{
	drop_held(c, -1, true);
	free(c->held);
	c->held = NULL;
}
