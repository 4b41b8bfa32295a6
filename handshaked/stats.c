/* The daemon's counters (stats.h). Latency goes into fixed log-scale
 * buckets (1 ms, 2 ms, ... 16 s, +Inf): constant memory, lock-free
 * updates, and p50/p99 good to a factor of two before interpolation. */
#include <inttypes.h>
#include <time.h>

#include "heap.h"
#include "stats.h"

#define ADD(p, n) __atomic_add_fetch((p), (n), __ATOMIC_RELAXED)
#define GET(p) __atomic_load_n((p), __ATOMIC_RELAXED)

static uint64_t bound_us(unsigned i)
{
	return (uint64_t)1000 << i;
}

uint64_t stats_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void stats_init(struct stats *st)
{
	struct timespec ts;

	*st = (struct stats){ 0 };
	clock_gettime(CLOCK_REALTIME, &ts);
	st->started_us = (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void stats_request(struct stats *st, unsigned loop)
{
	if (loop < STATS_MAX_LOOPS)
		ADD(&st->loop_requests[loop], 1);
}

void stats_started(struct stats *st, unsigned loop)
{
	ADD(&st->inflight, 1);
	if (loop < STATS_MAX_LOOPS)
		ADD(&st->loop_handshakes[loop], 1);
}

void stats_finished(struct stats *st)
{
	ADD(&st->inflight, -1);
}

int64_t stats_inflight(struct stats *st)
{
	return GET(&st->inflight);
}

void stats_ok(struct stats *st, uint64_t usec, bool resumed, unsigned early)
{
	unsigned i = 0;

	ADD(&st->ok, 1);
	if (resumed)
		ADD(&st->resumed, 1);
	if (early == HANDOFF_EARLY_ACCEPTED)
		ADD(&st->early_accepted, 1);
	else if (early == HANDOFF_EARLY_REJECTED)
		ADD(&st->early_rejected, 1);
	while (i < STATS_BUCKETS && usec > bound_us(i))
		i++;
	ADD(&st->lat[i], 1);
	ADD(&st->lat_sum_us, usec);
}

void stats_failed(struct stats *st, enum handoff_reason r)
{
	ADD(&st->failed[(unsigned)r < STATS_REASONS ? (unsigned)r : HANDOFF_R_INTERNAL], 1);
}

void stats_aborted(struct stats *st)
{
	ADD(&st->aborted, 1);
}

void stats_busy(struct stats *st)
{
	ADD(&st->busy, 1);
}

void stats_reload(struct stats *st, bool ok)
{
	ADD(ok ? &st->reloads : &st->reload_failures, 1);
}

void stats_upcall(struct stats *st, bool client, enum stats_upcall outcome)
{
	ADD(&st->upcall[client][outcome], 1);
}

uint64_t stats_quantile_us(struct stats *st, double q)
{
	uint64_t n[STATS_BUCKETS + 1], total = 0, seen = 0;
	unsigned i;

	for (i = 0; i <= STATS_BUCKETS; i++)
		total += n[i] = GET(&st->lat[i]);
	if (!total)
		return 0;
	double want = q * (double)total;
	for (i = 0; i <= STATS_BUCKETS; i++) {
		if (n[i] && (double)(seen + n[i]) >= want) {
			uint64_t lo = i ? bound_us(i - 1) : 0;
			if (i == STATS_BUCKETS)  /* +Inf: the last finite bound is all we know */
				return lo;
			double frac = (want - (double)seen) / (double)n[i];
			return lo + (uint64_t)(frac * (double)(bound_us(i) - lo));
		}
		seen += n[i];
	}
	return bound_us(STATS_BUCKETS - 1);
}

static uint64_t failed_total(struct stats *st)
{
	uint64_t t = 0;
	for (unsigned r = 1; r < STATS_REASONS; r++)
		t += GET(&st->failed[r]);
	return t;
}

void stats_print_table(struct stats *st, unsigned loops, FILE *f)
{
	fprintf(f, "%-28s %" PRIu64 "\n", "handshakes ok", GET(&st->ok));
	fprintf(f, "%-28s %" PRIu64 "\n", "  resumed", GET(&st->resumed));
	fprintf(f, "%-28s %" PRIu64 "\n", "  0-RTT accepted", GET(&st->early_accepted));
	fprintf(f, "%-28s %" PRIu64 "\n", "  0-RTT rejected", GET(&st->early_rejected));
	fprintf(f, "%-28s %" PRIu64 "\n", "failed", failed_total(st));
	for (unsigned r = 1; r < STATS_REASONS; r++)
		fprintf(f, "  %-26s %" PRIu64 "\n", handoff_reason_name((enum handoff_reason)r),
			GET(&st->failed[r]));
	fprintf(f, "%-28s %" PRIu64 "\n", "aborted (application gone)", GET(&st->aborted));
	fprintf(f, "%-28s %" PRIu64 "\n", "busy", GET(&st->busy));
	fprintf(f, "%-28s %" PRId64 "\n", "in flight", GET(&st->inflight));
	if (heap_counted())
		fprintf(f, "%-28s %" PRId64 "\n", "heap bytes", heap_live_bytes());
	fprintf(f, "%-28s %.3f ms\n", "latency p50", (double)stats_quantile_us(st, 0.50) / 1000);
	fprintf(f, "%-28s %.3f ms\n", "latency p99", (double)stats_quantile_us(st, 0.99) / 1000);
	for (unsigned l = 0; l < loops && l < STATS_MAX_LOOPS; l++)
		fprintf(f, "loop %-23u %" PRIu64 " requests, %" PRIu64 " handshakes\n", l,
			GET(&st->loop_requests[l]), GET(&st->loop_handshakes[l]));
	fprintf(f, "%-28s %" PRIu64 " ok, %" PRIu64 " failed\n", "reloads", GET(&st->reloads),
		GET(&st->reload_failures));
	for (unsigned c = 0; c < 2; c++)
		fprintf(f, "upcall %-21s %" PRIu64 " ok, %" PRIu64 " failed, %" PRIu64 " refused\n",
			c ? "client" : "server", GET(&st->upcall[c][STATS_UPCALL_OK]),
			GET(&st->upcall[c][STATS_UPCALL_FAILED]), GET(&st->upcall[c][STATS_UPCALL_REFUSED]));
}

static void counter(FILE *f, const char *name, const char *help)
{
	fprintf(f, "# HELP handshaked_%s %s\n# TYPE handshaked_%s counter\n", name, help, name);
}

void stats_print_prometheus(struct stats *st, unsigned loops, FILE *f)
{
	uint64_t cum = 0;

	counter(f, "handshakes_total", "Handshakes and requests by result and failure reason.");
	fprintf(f, "handshaked_handshakes_total{result=\"ok\",reason=\"\"} %" PRIu64 "\n", GET(&st->ok));
	for (unsigned r = 1; r < STATS_REASONS; r++)
		fprintf(f, "handshaked_handshakes_total{result=\"failed\",reason=\"%s\"} %" PRIu64 "\n",
			handoff_reason_name((enum handoff_reason)r), GET(&st->failed[r]));
	fprintf(f, "handshaked_handshakes_total{result=\"aborted\",reason=\"\"} %" PRIu64 "\n",
		GET(&st->aborted));
	counter(f, "resumed_total", "Successful handshakes that resumed a session.");
	fprintf(f, "handshaked_resumed_total %" PRIu64 "\n", GET(&st->resumed));
	counter(f, "early_data_total", "0-RTT offers by outcome.");
	fprintf(f, "handshaked_early_data_total{result=\"accepted\"} %" PRIu64 "\n", GET(&st->early_accepted));
	fprintf(f, "handshaked_early_data_total{result=\"rejected\"} %" PRIu64 "\n", GET(&st->early_rejected));
	counter(f, "busy_total", "Requests answered BUSY (daemon or per-application limit).");
	fprintf(f, "handshaked_busy_total %" PRIu64 "\n", GET(&st->busy));
	counter(f, "loop_requests_total", "Handoff requests received, by loop.");
	for (unsigned l = 0; l < loops && l < STATS_MAX_LOOPS; l++)
		fprintf(f, "handshaked_loop_requests_total{loop=\"%u\"} %" PRIu64 "\n", l,
			GET(&st->loop_requests[l]));
	counter(f, "loop_handshakes_total", "Handshakes started, by loop.");
	for (unsigned l = 0; l < loops && l < STATS_MAX_LOOPS; l++)
		fprintf(f, "handshaked_loop_handshakes_total{loop=\"%u\"} %" PRIu64 "\n", l,
			GET(&st->loop_handshakes[l]));
	counter(f, "reloads_total", "Configuration reloads by result.");
	fprintf(f, "handshaked_reloads_total{result=\"ok\"} %" PRIu64 "\n", GET(&st->reloads));
	fprintf(f, "handshaked_reloads_total{result=\"failed\"} %" PRIu64 "\n", GET(&st->reload_failures));
	counter(f, "upcall_handshakes_total", "The kernel's handshake upcall (NFS, NVMe/TCP) by role and result; "
		"ok and failed also count in handshaked_handshakes_total.");
	for (unsigned c = 0; c < 2; c++)
		for (unsigned o = 0; o < 3; o++)
			fprintf(f, "handshaked_upcall_handshakes_total{role=\"%s\",result=\"%s\"} %" PRIu64 "\n",
				c ? "client" : "server", o == STATS_UPCALL_OK ? "ok" : o == STATS_UPCALL_FAILED ?
				"failed" : "refused", GET(&st->upcall[c][o]));
	fprintf(f, "# HELP handshaked_inflight Handshakes in flight.\n# TYPE handshaked_inflight gauge\n");
	fprintf(f, "handshaked_inflight %" PRId64 "\n", GET(&st->inflight));
	if (heap_counted())
		fprintf(f, "# HELP handshaked_heap_bytes Live heap (malloc_usable_size of every block).\n"
			   "# TYPE handshaked_heap_bytes gauge\nhandshaked_heap_bytes %" PRId64 "\n",
			heap_live_bytes());
	fprintf(f, "# HELP handshaked_loops Event loops (threads).\n# TYPE handshaked_loops gauge\n");
	fprintf(f, "handshaked_loops %u\n", loops);
	fprintf(f, "# HELP handshaked_start_time_seconds When the daemon started, in seconds since the Unix epoch.\n"
		   "# TYPE handshaked_start_time_seconds gauge\nhandshaked_start_time_seconds %" PRIu64 ".%03u\n",
		st->started_us / 1000000, (unsigned)(st->started_us % 1000000 / 1000));
	fprintf(f, "# HELP handshaked_handshake_duration_seconds Successful handshakes, request to DONE.\n"
		   "# TYPE handshaked_handshake_duration_seconds histogram\n");
	for (unsigned i = 0; i < STATS_BUCKETS; i++) {
		cum += GET(&st->lat[i]);
		fprintf(f, "handshaked_handshake_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
			(double)bound_us(i) / 1e6, cum);
	}
	cum += GET(&st->lat[STATS_BUCKETS]);
	fprintf(f, "handshaked_handshake_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
	fprintf(f, "handshaked_handshake_duration_seconds_sum %.6f\n", (double)GET(&st->lat_sum_us) / 1e6);
	fprintf(f, "handshaked_handshake_duration_seconds_count %" PRIu64 "\n", cum);
}
