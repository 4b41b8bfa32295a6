/* kstatic: connection deadlines as FIFO lists, one per kind of timeout.
 *
 * Every entry of a list has the same timeout, so appending at the tail with
 * deadline now + ms keeps the list sorted: arming, disarming and finding the
 * expired entries are O(1) each, whatever the number of connections (a timer
 * wheel's job without its slots). Each connection is in at most one list. */
#ifndef KSTATIC_TIMER_H
#define KSTATIC_TIMER_H

#include <stdint.h>

struct timer_link {
	struct timer_link *prev, *next; /* NULL when in no list */
	int64_t deadline;               /* CLOCK_MONOTONIC ms */
};

struct timer_list {
	struct timer_link head;         /* sentinel: head.next is the earliest */
	int ms;                         /* this list's timeout */
};

void timer_list_init(struct timer_list *l, int ms);
/* Moves t (from any list, or none) to l's tail, due at now + l->ms. */
void timer_arm(struct timer_list *l, struct timer_link *t, int64_t now);
void timer_disarm(struct timer_link *t);
/* The earliest entry if it is due at now, else NULL. */
struct timer_link *timer_due(struct timer_list *l, int64_t now);
/* Milliseconds until l's earliest deadline: 0 if due, -1 if l is empty. */
int timer_wait_ms(const struct timer_list *l, int64_t now);
/* The first entry (due or not), or NULL: for walking a list while closing
 * every connection in it. */
struct timer_link *timer_first(struct timer_list *l);
/* CLOCK_MONOTONIC in ms (the coarse clock: a vDSO read). */
int64_t timer_now_ms(void);

#endif
