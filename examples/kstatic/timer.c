/* kstatic: FIFO deadline lists (see timer.h). */
#include "timer.h"

#include <stddef.h>
#include <time.h>

void timer_list_init(struct timer_list *l, int ms)
{
	l->head.prev = l->head.next = &l->head;
	l->head.deadline = 0;
	l->ms = ms;
}

void timer_disarm(struct timer_link *t)
{
	if (!t->next)
		return;
	t->prev->next = t->next;
	t->next->prev = t->prev;
	t->prev = t->next = NULL;
}

void timer_arm(struct timer_list *l, struct timer_link *t, int64_t now)
{
	timer_disarm(t);
	t->deadline = now + l->ms;
	t->prev = l->head.prev;
	t->next = &l->head;
	l->head.prev->next = t;
	l->head.prev = t;
}

struct timer_link *timer_first(struct timer_list *l)
{
	return l->head.next == &l->head ? NULL : l->head.next;
}

struct timer_link *timer_due(struct timer_list *l, int64_t now)
{
	struct timer_link *t = timer_first(l);

	return t && t->deadline <= now ? t : NULL;
}

int timer_wait_ms(const struct timer_list *l, int64_t now)
{
	const struct timer_link *t = l->head.next;

	if (t == &l->head)
		return -1;
	return t->deadline <= now ? 0 : (int)(t->deadline - now);
}

int64_t timer_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
