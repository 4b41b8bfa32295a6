/* handshaked's confinement (handshaked/sandbox.c), linked alone into this
 * test: libcrypto's secure heap holds private keys and the ticket key
 * ring; a loop's io_uring ring refuses operations, SQE flags and
 * registrations the daemon does not use; the seccomp filter lets the
 * daemon's calls through (threads too) and fails any other one with
 * ENOSYS and a log line, without killing the process. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include <handshake/tls.h>

#include "../../handshaked/sandbox.h"
#include "test.h"

static void secure_heap(void)
{
	size_t before;
	EVP_PKEY *k;
	tls_stek_ring *ring;

	test_ok(sandbox_secure_heap_init() == 0 && CRYPTO_secure_malloc_initialized(), "the secure heap is made");
	before = CRYPTO_secure_used();
	k = EVP_EC_gen("P-256");
	test_ok(k && CRYPTO_secure_used() > before, "a P-256 private key is made in it (%zu -> %zu bytes)", before,
		CRYPTO_secure_used());
	EVP_PKEY_free(k);
	ring = tls_stek_ring_new(1, 0);
	test_ok(ring && CRYPTO_secure_allocated(ring), "the ticket key ring lives in it");
	tls_stek_ring_free(ring);
}

/* One SQE, its completion's result. */
static int one(struct io_uring *r, struct io_uring_sqe *sqe)
{
	struct io_uring_cqe *cqe;
	int res;

	(void)sqe;
	if (io_uring_submit_and_wait(r, 1) < 0 || io_uring_wait_cqe(r, &cqe) != 0)
		return -9999;
	res = cqe->res;
	io_uring_cqe_seen(r, cqe);
	return res;
}

static void ring(void)
{
	struct io_uring r;
	struct io_uring_sqe *sqe;
	struct io_uring_probe *probe;
	uint64_t v = 1, got = 0;
	int efd = eventfd(0, EFD_CLOEXEC), res;

	if (!test_ok(sandbox_ring_init(8, &r) == 0, "a restricted ring is made"))
		return;
	if (write(efd, &v, sizeof(v)) != sizeof(v))
		test_diag("eventfd write: %s", strerror(errno));
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_read(sqe, efd, &got, sizeof(got), 0);
	res = one(&r, sqe);
	test_ok(res == 8 && got == 1, "an operation the loops use (read of an eventfd) runs: %d", res);
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_nop(sqe);
	res = one(&r, sqe);
	test_ok(res == -EACCES, "another one (nop) is refused: %d", res);
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_openat(sqe, AT_FDCWD, "/dev/null", O_RDONLY, 0);
	res = one(&r, sqe);
	test_ok(res == -EACCES, "openat through the ring is refused: %d", res);
	sqe = io_uring_get_sqe(&r);
	io_uring_prep_read(sqe, efd, &got, sizeof(got), 0);
	io_uring_sqe_set_flags(sqe, IOSQE_ASYNC);
	res = one(&r, sqe);
	test_ok(res == -EACCES, "an SQE flag (IOSQE_ASYNC) is refused: %d", res);
	probe = io_uring_get_probe_ring(&r);
	test_ok(!probe, "a registration (probe) is refused");
	io_uring_free_probe(probe);
	io_uring_queue_exit(&r);
	close(efd);
}

static void *thread_fn(void *arg)
{
	return arg;
}

/* In a child (the filter stays for the process): 0 when every check
 * passed, else the number of the first that did not. */
static int filtered_child(void)
{
	static int token;
	pthread_t t;
	void *ret = NULL;
	int fd;

	if (sandbox_seccomp() != 0)
		return 1;
	if (getpid() <= 0)
		return 2;
	if (pthread_create(&t, NULL, thread_fn, &token) != 0 || pthread_join(t, &ret) != 0 || ret != &token)
		return 3;              /* clone3 fails with ENOSYS, glibc falls back to clone */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
		return 4;
	close(fd);
	errno = 0;
	if (socket(AF_INET, SOCK_STREAM, 0) != -1 || errno != ENOSYS)
		return 5;
	errno = 0;
	if (syscall(SYS_getppid) != -1 || errno != ENOSYS)
		return 6;
	return 0;
}

static void seccomp(void)
{
	int p[2], st = -1;
	char log[2048] = "";
	ssize_t n = 0, r;
	pid_t pid;

	if (pipe(p) != 0 || (pid = fork()) < 0) {
		test_ok(false, "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		_exit(filtered_child());
	}
	close(p[1]);
	while (n < (ssize_t)sizeof(log) - 1 && (r = read(p[0], log + n, sizeof(log) - 1 - (size_t)n)) > 0)
		n += r;
	log[n] = '\0';
	close(p[0]);
	waitpid(pid, &st, 0);
	test_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		"under the filter: the daemon's calls, a thread, a Unix socket work; an IPv4 socket and getppid "
		"fail with ENOSYS; the process lives (status %d)", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	char want[64];
	snprintf(want, sizeof(want), "event=seccomp_refused syscall=%d ", (int)SYS_getppid);
	test_ok(strstr(log, want) && strstr(log, "event=seccomp_on"), "each refusal is logged (%s)", want);
	if (!strstr(log, want))
		test_diag("the child's log: %s", log);
}

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif

/* A plain constant rather than #ifdef around the call: the test is
 * compiled (and warning-free) in every build. */
#ifdef SANITIZED
static const bool sanitized = true;
#else
static const bool sanitized = false;
#endif

int main(void)
{
	secure_heap();
	ring();
	if (sanitized)
		test_skip("no filter in a sanitizer build (sandbox.c)", "seccomp");
	else
		seccomp();
	return test_done();
}
