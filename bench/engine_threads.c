/* Does the engine scale over threads of one process as it does over
 * processes? Full in-memory handshakes (our client and our server, X25519,
 * ECDSA P-256, AES-128-GCM, no tickets, the chain verified), one shared
 * configuration per role as the daemon's loops share theirs: first one
 * thread, then N threads in this process, then N processes of one thread.
 * What a second daemon loop could gain at most, with nothing else running,
 * and whether libcrypto's or the engine's shared state costs anything.
 *
 *   engine_threads [--threads N] [--seconds S]
 *
 * Last line: engine_threads threads=N threads_vs_one=R processes_vs_one=R
 *            threads_vs_processes=R
 */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pair.h"
#include "testkeys.h"

#define MAX_THREADS 64

static tls_config *scfg, *ccfg;
static double run_seconds = 3;
static atomic_long total;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "engine_threads: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
	long n = 0;
	double end = now() + run_seconds;
	(void)arg;
	while (now() < end) {
		struct test_pair p;
		test_pair_init(&p, ccfg, scfg, "server.test");
		bool ok = test_pair_go(&p);
		if (ok) {
			const tls_params *sp = tls_conn_params(p.sv.c);
			ok = sp && sp->group == TLS_GROUP_X25519 && !sp->resumed && !sp->hrr;
		}
		test_pair_free(&p);
		if (!ok)
			die("a handshake failed or negotiated something else");
		n++;
	}
	atomic_fetch_add(&total, n);
	return NULL;
}

/* Handshakes per second of n threads in this process. */
static double threads_rate(int n)
{
	pthread_t t[MAX_THREADS];
	atomic_store(&total, 0);
	double t0 = now();
	for (int i = 0; i < n; i++)
		if ((errno = pthread_create(&t[i], NULL, worker, NULL)))
			die("pthread_create: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	return (double)atomic_load(&total) / (now() - t0);
}

/* Handshakes per second of n processes of one thread (forked after the
 * configurations are made, so they start from the same state). */
static double processes_rate(int n)
{
	int fds[2];
	pid_t pid[MAX_THREADS];
	if (pipe(fds))
		die("pipe: %s", strerror(errno));
	double t0 = now();
	for (int i = 0; i < n; i++) {
		if ((pid[i] = fork()) < 0)
			die("fork: %s", strerror(errno));
		if (pid[i] == 0) {
			close(fds[0]);
			atomic_store(&total, 0);
			worker(NULL);
			long done = atomic_load(&total);
			_exit(write(fds[1], &done, sizeof(done)) == sizeof(done) ? 0 : 1);
		}
	}
	close(fds[1]);
	long sum = 0, one;
	for (int i = 0; i < n; i++) {
		int st;
		if (read(fds[0], &one, sizeof(one)) != sizeof(one))
			die("a worker process reported nothing");
		sum += one;
		if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
			die("a worker process failed");
	}
	close(fds[0]);
	return (double)sum / (now() - t0);
}

int main(int argc, char **argv)
{
	int n = 2;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--threads") && i + 1 < argc)
			n = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
			run_seconds = atof(argv[++i]);
		else
			die("usage: engine_threads [--threads N] [--seconds S]");
	}
	if (n < 1 || n > MAX_THREADS || !(run_seconds > 0))
		die("usage: engine_threads [--threads 1..%d] [--seconds S>0]", MAX_THREADS);

	const uint16_t x25519 = TLS_GROUP_X25519;
	struct test_pki pki;
	test_pki_make(&pki, TESTKEY_P256, "server.test", 0);
	scfg = test_server_config(&pki);
	ccfg = test_client_config(&pki);
	if (tls_config_set_tickets(scfg, 0, 0) || tls_config_set_groups(scfg, &x25519, 1) ||
	    tls_config_set_groups(ccfg, &x25519, 1) || tls_config_set_key_share_groups(ccfg, &x25519, 1))
		die("cannot configure the engine");

	run_seconds /= 4; /* warm-up: caches, libcrypto's lazily built tables */
	threads_rate(1);
	run_seconds *= 4;
	double one = threads_rate(1);
	double thr = threads_rate(n);
	double proc = processes_rate(n);
	printf("in-memory full handshakes (client + server) per second, %.0f s each:\n", run_seconds);
	printf("  1 thread                %10.1f\n", one);
	printf("  %d threads, one process %10.1f  %.3fx\n", n, thr, thr / one);
	printf("  %d processes            %10.1f  %.3fx\n", n, proc, proc / one);
	printf("engine_threads threads=%d threads_vs_one=%.3f processes_vs_one=%.3f threads_vs_processes=%.3f\n",
	       n, thr / one, proc / one, thr / proc);
	tls_config_free(scfg);
	tls_config_free(ccfg);
	test_pki_free(&pki);
	return 0;
}
