/*
 * The workers: calls run on threads so that the nghttp2 thread never blocks. Reader
 * threads take only read-only calls, so Stat/List/Mounts/Usage never queue behind a slow
 * Prepare or Commit; finished tasks go back to the nghttp2 thread through an eventfd.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"

struct queue {
	struct thinsnap_daemon_task *head, *tail;
};

struct thinsnap_daemon_workers {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queue reads, writes, done;
	bool stopping;
	int done_fd;
	pthread_t *threads;
	bool *is_reader;
	unsigned n_threads;
};

struct thread_arg {
	struct thinsnap_daemon_workers *p;
	bool reader;
};

static void push(struct queue *q, struct thinsnap_daemon_task *t)
{
	t->next = NULL;
	if (q->tail)
		q->tail->next = t;
	else
		q->head = t;
	q->tail = t;
}

static struct thinsnap_daemon_task *pop(struct queue *q)
{
	struct thinsnap_daemon_task *t = q->head;

	if (t) {
		q->head = t->next;
		if (!q->head)
			q->tail = NULL;
		t->next = NULL;
	}
	return t;
}

static void *worker(void *arg)
{
	struct thinsnap_daemon_workers *p = ((struct thread_arg *)arg)->p;
	bool reader = ((struct thread_arg *)arg)->reader;

	free(arg);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct thinsnap_daemon_task *t = reader ? NULL : pop(&p->writes);
		if (!t)
			t = pop(&p->reads);
		if (!t) {
			if (p->stopping)
				break;
			pthread_cond_wait(&p->cond, &p->lock);
			continue;
		}
		pthread_mutex_unlock(&p->lock);
		t->run(t);
		pthread_mutex_lock(&p->lock);
		push(&p->done, t);
		uint64_t one = 1;
		(void)!write(p->done_fd, &one, sizeof(one));
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int thinsnap_daemon_workers_new(unsigned n_readers, unsigned n_writers,
				struct thinsnap_daemon_workers **ret)
{
	CLEANUP_FREE struct thinsnap_daemon_workers *p = calloc(1, sizeof(*p));
	unsigned n = n_readers + n_writers;

	if (!p || n == 0 || n_writers == 0)
		return p ? -EINVAL : -ENOMEM;
	p->threads = calloc(n, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	p->done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->done_fd < 0) {
		free(p->threads);
		return -errno;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (unsigned i = 0; i < n; i++) {
		struct thread_arg *a = malloc(sizeof(*a));
		int r = a ? 0 : ENOMEM;
		if (a) {
			a->p = p;
			a->reader = i < n_readers;
			r = pthread_create(&p->threads[i], NULL, worker, a);
			if (r)
				free(a);
		}
		if (r) {
			p->n_threads = i;
			(void)thinsnap_daemon_workers_free(TAKE_PTR(p));
			return -r;
		}
	}
	p->n_threads = n;
	*ret = TAKE_PTR(p);
	return 0;
}

struct thinsnap_daemon_task *thinsnap_daemon_workers_free(struct thinsnap_daemon_workers *p)
{
	struct thinsnap_daemon_task *done;

	if (!p)
		return NULL;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->n_threads; i++)
		pthread_join(p->threads[i], NULL);
	done = p->done.head;
	free(p->threads);
	close(p->done_fd);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return done;
}

void thinsnap_daemon_workers_submit(struct thinsnap_daemon_workers *p,
				    struct thinsnap_daemon_task *t)
{
	pthread_mutex_lock(&p->lock);
	push(t->read ? &p->reads : &p->writes, t);
	/* Wake everyone: a reader can't take a write, so one wake-up could be lost on it. */
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

int thinsnap_daemon_workers_done_fd(struct thinsnap_daemon_workers *p)
{
	return p->done_fd;
}

struct thinsnap_daemon_task *thinsnap_daemon_workers_take_done(struct thinsnap_daemon_workers *p)
{
	struct thinsnap_daemon_task *t;
	uint64_t v;

	pthread_mutex_lock(&p->lock);
	(void)!read(p->done_fd, &v, sizeof(v));
	t = p->done.head;
	p->done.head = p->done.tail = NULL;
	pthread_mutex_unlock(&p->lock);
	return t;
}
