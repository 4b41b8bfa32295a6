/* Handshakes spread over the loops (--loops N). A request is read by the
 * loop its application's handoff connection landed on; the handshake
 * (ACCEPT or CONNECT) runs on the least loaded loop, so one application with one
 * connection (an event-driven server such as kstatic) uses every loop,
 * not only the one the kernel gave its connection to.
 *
 * Only the home loop touches an application's socket and reply queue. A
 * handshake sent elsewhere belongs to a proxy there: a struct app with no
 * socket (fd -1, home set) that the hsio code treats like any other; its
 * replies and its end travel home as messages. Messages go through a
 * mutex-guarded FIFO per loop and the loop's eventfd, written only when
 * the inbox was empty (the loop takes everything on a wake).
 *
 * Lifetimes: the home loop makes a proxy and frees it with the
 * application, once each of its handshakes ended (GONE) and each ABORT
 * was answered (ABORTED): nothing on the other loop refers to it then. A
 * START's message comes back as that handshake's GONE, an ABORT's as the
 * ABORTED, so ending needs no memory. A loop stops only when no START is
 * on its way to it and no handshake of its applications runs elsewhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "daemon.h"
#include "hsio.h"
#include "log.h"

enum lmsg_kind {
	LM_START,                  /* home -> proxy's loop: run this handshake (ACCEPT, or the CONNECT in data) */
	LM_REPLY,                  /* -> home: send this reply to the application */
	LM_GONE,                   /* -> home: one handshake ended (its START's message) */
	LM_ABORT,                  /* home -> proxy's loop: the application closed */
	LM_ABORTED,                /* -> home: done (the ABORT's message) */
};

struct lmsg {
	struct lmsg *next;
	enum lmsg_kind kind;
	struct app *app;           /* START, ABORT: the proxy; the others: the home */
	unsigned from;             /* GONE: the loop it ran on */
	uint32_t id, timeout_ms;   /* START */
	int fd;                    /* START: the TCP socket, ours until started */
	char peer[64];             /* START */
	size_t len;                /* REPLY; START: the CONNECT request (0: ACCEPT) */
	uint8_t data[];            /* REPLY, START */
};

int spread_init(struct loop *l)
{
	l->inbox = NULL;
	l->inbox_tail = &l->inbox;
	return pthread_mutex_init(&l->inbox_lock, NULL) == 0 ? 0 : -1;
}

static void post(struct loop *t, struct lmsg *m)
{
	bool was_empty;

	m->next = NULL;
	pthread_mutex_lock(&t->inbox_lock);
	was_empty = !t->inbox;
	*t->inbox_tail = m;
	t->inbox_tail = &m->next;
	pthread_mutex_unlock(&t->inbox_lock);
	if (was_empty)
		loop_wake(t);
}

static unsigned load(struct loop *l)
{
	return __atomic_load_n(&l->inflight, __ATOMIC_RELAXED) + __atomic_load_n(&l->incoming, __ATOMIC_RELAXED);
}

struct loop *spread_pick(struct app *a)
{
	struct loop *l = a->l, *best = l;
	unsigned n = __atomic_load_n(&l->d->spread_loops, __ATOMIC_ACQUIRE);
	unsigned best_load = load(l);

	for (unsigned i = 0; i < n; i++) {
		struct loop *o = &l->d->loops[i];
		unsigned v;
		if (o != l && (v = load(o)) < best_load) {
			best = o;
			best_load = v;
		}
	}
	return best;
}

static struct app *proxy_for(struct app *a, struct loop *t)
{
	unsigned n = __atomic_load_n(&a->l->d->spread_loops, __ATOMIC_ACQUIRE);
	struct app *p;

	if (!a->proxies) {
		a->proxies = calloc(n, sizeof(*a->proxies));
		a->remote_on = calloc(n, sizeof(*a->remote_on));
		if (!a->proxies || !a->remote_on) {
			free(a->proxies);
			free(a->remote_on);
			a->proxies = NULL;
			a->remote_on = NULL;
			return NULL;
		}
	}
	if ((p = a->proxies[t->index]))
		return p;
	if (!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->l = t;
	p->fd = -1;
	p->home = a;
	p->uid = a->uid;
	p->gid = a->gid;
	p->pid = a->pid;
	p->queue_tail = &p->queue;
	a->proxies[t->index] = p;
	return p;
}

int spread_start(struct app *a, struct loop *t, const struct spread_req *r)
{
	struct app *p = proxy_for(a, t);
	struct lmsg *m;

	if (!p || !(m = calloc(1, sizeof(*m) + r->connect_len)))
		return -1;
	/* against spread_close: either t sees this one coming, or we see t closed */
	__atomic_add_fetch(&t->incoming, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&t->closed, __ATOMIC_SEQ_CST)) {
		__atomic_sub_fetch(&t->incoming, 1, __ATOMIC_SEQ_CST);
		free(m);
		return -1;
	}
	m->kind = LM_START;
	m->app = p;
	m->id = r->id;
	m->timeout_ms = r->timeout_ms;
	m->fd = r->fd;
	snprintf(m->peer, sizeof(m->peer), "%s", r->peer);
	m->len = r->connect_len;
	if (r->connect_len)
		memcpy(m->data, r->connect, r->connect_len);
	a->remote_on[t->index]++;
	a->remote++;
	a->l->remote++;
	post(t, m);
	return 0;
}

void spread_reply(struct app *p, const tls_buf *msg)
{
	struct lmsg *m;

	if (p->closing || !msg || msg->err || !msg->len)
		return;
	if (!(m = malloc(sizeof(*m) + msg->len))) {
		log_ev(LOG_ERR, "replies_lost", "pid=%d count=1 error=\"out of memory\"", (int)p->pid);
		return;
	}
	m->kind = LM_REPLY;
	m->app = p->home;
	m->len = msg->len;
	memcpy(m->data, msg->base, msg->len);
	post(p->home->l, m);
}

void spread_gone(struct app *p)
{
	struct lmsg *m = p->spare;  /* one per handshake started here: never NULL */

	p->spare = m->next;
	m->kind = LM_GONE;
	m->app = p->home;
	m->from = p->l->index;
	post(p->home->l, m);       /* the last use of p on this loop for it */
}

void spread_abort(struct app *a)
{
	unsigned n = __atomic_load_n(&a->l->d->spread_loops, __ATOMIC_ACQUIRE);
	struct lmsg *m;

	for (unsigned i = 0; a->remote_on && i < n; i++) {
		if (!a->remote_on[i])
			continue;
		if (!(m = calloc(1, sizeof(*m)))) {
			/* they run to their end (the deadline at worst); replies are dropped */
			log_ev(LOG_ERR, "out_of_memory", "for=abort loop=%u", i);
			continue;
		}
		m->kind = LM_ABORT;
		m->app = a->proxies[i];
		a->remote++;           /* the proxy stays until the ABORTED */
		post(&a->l->d->loops[i], m);
	}
}

static void on_start(struct loop *l, struct lmsg *m)
{
	struct app *p = m->app;
	enum handoff_reason r = HANDOFF_R_INTERNAL;
	char why[200];
	struct handoff_msg cm;
	const char *bad;
	uint32_t id = m->id;
	int fd = m->fd, rc;

	m->next = p->spare;        /* kept for this handshake's GONE */
	p->spare = m;
	if (m->len && handoff_parse(m->data, m->len, &cm, &bad) != 0) {  /* it did at home */
		snprintf(why, sizeof(why), "the request did not parse again: %s", bad);
		rc = -1;
	} else {
		rc = handshake_start(l, p, id, m->len ? &cm : NULL, fd, m->timeout_ms, m->peer, &r, why,
				     sizeof(why));
	}
	if (rc != 0) {
		app_reply_failed(p, id, r, 0, why);
		close(fd);
		spread_gone(p);
	}
	/* after the start counted in l->inflight: the loop never sees both 0 */
	__atomic_sub_fetch(&l->incoming, 1, __ATOMIC_SEQ_CST);
}

static void on_gone(struct loop *l, struct lmsg *m)
{
	struct app *a = m->app;

	a->inflight--;
	stats_finished(&l->d->stats);
	a->remote_on[m->from]--;
	a->remote--;
	l->remote--;
	free(m);
	app_maybe_free(a);
}

static void on_abort(struct loop *l, struct lmsg *m)
{
	struct app *p = m->app;
	struct hsio *io, *next;

	p->closing = true;         /* replies still coming are dropped */
	for (io = p->handshakes; io; io = next) {
		next = io->next;
		stats_aborted(&l->d->stats);
		hsio_abort(io, "the application closed its handoff connection");
	}
	m->kind = LM_ABORTED;
	m->app = p->home;
	post(p->home->l, m);
}

void spread_run(struct loop *l)
{
	struct lmsg *m, *next;

	pthread_mutex_lock(&l->inbox_lock);
	m = l->inbox;
	l->inbox = NULL;
	l->inbox_tail = &l->inbox;
	pthread_mutex_unlock(&l->inbox_lock);
	for (; m; m = next) {
		next = m->next;
		switch (m->kind) {
		case LM_START:
			on_start(l, m);
			break;
		case LM_REPLY:
			app_reply(m->app, &(tls_buf){ .base = m->data, .len = m->len });
			OPENSSL_cleanse(m->data, m->len);  /* DONE and CONFIRMED carry traffic secrets */
			free(m);
			break;
		case LM_GONE:
			on_gone(l, m);
			break;
		case LM_ABORT:
			on_abort(l, m);
			break;
		case LM_ABORTED:
			m->app->remote--;
			app_maybe_free(m->app);
			free(m);
			break;
		}
	}
}

void spread_close(struct loop *l)
{
	__atomic_store_n(&l->closed, true, __ATOMIC_SEQ_CST);
}

bool spread_idle(struct loop *l)
{
	/* a failed loop sends no GONE any more: the others do not wait for it */
	return __atomic_load_n(&l->incoming, __ATOMIC_SEQ_CST) == 0 &&
	       (l->remote == 0 || __atomic_load_n(&l->d->loop_failed, __ATOMIC_ACQUIRE));
}

void spread_free_app(struct app *a)
{
	unsigned n = __atomic_load_n(&a->l->d->spread_loops, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; a->proxies && i < n; i++) {
		struct app *p = a->proxies[i];
		struct lmsg *m;
		if (!p)
			continue;
		while ((m = p->spare)) {
			p->spare = m->next;
			free(m);
		}
		free(p);
	}
	free(a->proxies);
	free(a->remote_on);
	a->proxies = NULL;
	a->remote_on = NULL;
}

void spread_free(struct loop *l)
{
	struct lmsg *m, *next;

	for (m = l->inbox; m; m = next) {
		next = m->next;
		if (m->kind == LM_START)
			close(m->fd);
		else if (m->kind == LM_REPLY)
			OPENSSL_cleanse(m->data, m->len);
		free(m);
	}
	l->inbox = NULL;
	l->inbox_tail = &l->inbox;
	pthread_mutex_destroy(&l->inbox_lock);
}
