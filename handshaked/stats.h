/* Counters of one daemon, shared by every loop: plain integers updated
 * with relaxed atomics (a reader may see one counter a moment ahead of
 * another; none is ever torn or lost). Printed by the control socket as
 * a table or in the Prometheus text format. */
#ifndef HANDSHAKED_STATS_H
#define HANDSHAKED_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "handoff.h"

#define STATS_MAX_LOOPS 64
#define STATS_REASONS 10           /* enum handoff_reason 0..9 */
#define STATS_BUCKETS 15           /* latency upper bounds 1 ms << i, then +Inf */

struct stats {
	uint64_t ok, resumed, early_accepted, early_rejected;
	uint64_t failed[STATS_REASONS]; /* FAILED replies by reason (requests refused too) */
	uint64_t aborted;          /* the application left mid-handshake: no reply */
	uint64_t busy;
	int64_t inflight;          /* gauge */
	uint64_t lat[STATS_BUCKETS + 1]; /* successful handshakes, start to DONE */
	uint64_t lat_sum_us;
	uint64_t loop_requests[STATS_MAX_LOOPS];
	uint64_t loop_handshakes[STATS_MAX_LOOPS];
	uint64_t reloads, reload_failures;
	uint64_t upcall[2][3];     /* the kernel's upcall: [server, client][enum stats_upcall] */
	uint64_t started_us;       /* CLOCK_REALTIME at start, for uptime */
};

uint64_t stats_now_us(void);   /* CLOCK_MONOTONIC */
void stats_init(struct stats *st);

void stats_request(struct stats *st, unsigned loop);
void stats_started(struct stats *st, unsigned loop);
void stats_finished(struct stats *st);
int64_t stats_inflight(struct stats *st);
/* early: HANDOFF_EARLY_* */
void stats_ok(struct stats *st, uint64_t usec, bool resumed, unsigned early);
void stats_failed(struct stats *st, enum handoff_reason r);
void stats_aborted(struct stats *st);
void stats_busy(struct stats *st);
void stats_reload(struct stats *st, bool ok);
/* An upcall handshake's end (also counted by stats_ok/stats_failed) or
 * a request refused before any handshake. */
enum stats_upcall { STATS_UPCALL_OK, STATS_UPCALL_FAILED, STATS_UPCALL_REFUSED };
void stats_upcall(struct stats *st, bool client, enum stats_upcall outcome);

/* The latency quantile q (0..1) in microseconds, interpolated inside its
 * bucket; 0 with no sample. */
uint64_t stats_quantile_us(struct stats *st, double q);

void stats_print_table(struct stats *st, unsigned loops, FILE *f);
void stats_print_prometheus(struct stats *st, unsigned loops, FILE *f);

#endif
