/* The daemon's confinement (sandbox.h).
 *
 * Secure heap: libcrypto's CRYPTO_secure_malloc arena is mmap'd, mlock'd
 * and MADV_DONTDUMP; once it exists, libcrypto decodes private keys into
 * it (EC scalars, RSA's private numbers, X25519/Ed25519 bytes, the PEM
 * decode buffer), and the ticket key ring lives there (lib/tls/stek.c).
 *
 * seccomp: an allow-list for what the running daemon does (the loops'
 * socket calls, kTLS setsockopt, keyctl for the upcall, a reload's file
 * reads, the supervisor's poll and signalfd, threads, memory). Anything
 * else traps: SIGSYS, whose handler writes one log line naming the call
 * and makes it fail with ENOSYS. So a call missing from the list shows up
 * in the log and fails like an unsupported one (glibc falls back where it
 * can, the daemon reports the error as for any failed call) instead of
 * killing every handshake in flight, as SCMP_ACT_KILL_PROCESS would, or
 * failing without a word, as SCMP_ACT_ERRNO would.
 *
 * io_uring: a ring's operations run in the kernel without passing through
 * seccomp, so each loop's ring accepts only the operations the loops
 * prepare (every io_uring_prep_* in handoff.c, hsio.c, loop.c, upcall.c)
 * and no SQE flags or register calls: IORING_REGISTER_RESTRICTIONS on a
 * ring created disabled. */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <linux/sched.h>
#include <openssl/crypto.h>
#include <seccomp.h>
#include <sys/socket.h>

#include "log.h"
#include "sandbox.h"

/* Private keys of up to CFG_MAX_CERTS certificates (old and new ones
 * side by side during a reload), the ticket keys, and what libcrypto
 * keeps there per handshake in flight (ephemeral keys, HMAC keys). */
#define SECURE_HEAP_SIZE (4u << 20)
#define SECURE_HEAP_MIN 16

/* libcrypto's ordinary allocations are wiped when freed: what its decoders
 * copy on the way (the DER of a key between two decoder steps, an ASN.1
 * octet string holding an EC scalar) is freed with a plain free, and a
 * freed block keeps its bytes until reused. Its other frees cost a memset
 * each; the engine's and the daemon's own buffers are not concerned. */
static void *crypto_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	return malloc(n);
}

static void crypto_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	if (p) {
		OPENSSL_cleanse(p, malloc_usable_size(p));
		free(p);
	}
}

/* Never glibc's realloc: moving a block frees the old one unwiped. */
static void *crypto_realloc(void *p, size_t n, const char *file, int line)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void *q;

	if (!p)
		return crypto_malloc(n, file, line);
	if (!n) {
		crypto_free(p, file, line);
		return NULL;
	}
	if (n <= old)
		return p;
	if (!(q = malloc(n)))
		return NULL;
	memcpy(q, p, old);
	crypto_free(p, file, line);
	return q;
}

int sandbox_secure_heap_init(void)
{
	int r;

	/* only before libcrypto's first allocation: main's first call */
	if (!CRYPTO_set_mem_functions(crypto_malloc, crypto_realloc, crypto_free))
		log_ev(LOG_WARN, "crypto_wipe_off", "text=\"libcrypto allocated before main: its freed blocks are not "
		       "wiped\"");
	r = CRYPTO_secure_malloc_init(SECURE_HEAP_SIZE, SECURE_HEAP_MIN);

	if (r == 0 || !CRYPTO_secure_malloc_initialized()) {
		log_ev(LOG_ERR, "secure_heap_failed", "kib=%u", SECURE_HEAP_SIZE >> 10);
		return -1;
	}
	if (r == 2)  /* mlock or madvise failed: still a heap of its own */
		log_ev(LOG_WARN, "secure_heap_unlocked", "kib=%u text=\"not locked in memory (RLIMIT_MEMLOCK?): keys "
		       "could reach swap\"", SECURE_HEAP_SIZE >> 10);
	return 0;
}

void sandbox_secure_heap_done(void)
{
	if (!CRYPTO_secure_malloc_initialized())
		return;
	/* libcrypto's own random generator keeps its state there until its
	 * atexit cleanup: then the pages go back to the kernel unread */
	if (!CRYPTO_secure_malloc_done())
		log_ev(LOG_DEBUG, "secure_heap_in_use", "bytes=%zu text=\"libcrypto's own, at exit\"",
		       CRYPTO_secure_used());
}

/* ---- seccomp ---- */

/* x86-64 and arm64 let the handler set the call's result; elsewhere the
 * filter returns ENOSYS itself (no log line). */
#if defined(__x86_64__)
#define SET_RESULT(uc, v) ((uc)->uc_mcontext.gregs[REG_RAX] = (v))
#elif defined(__aarch64__)
#define SET_RESULT(uc, v) ((uc)->uc_mcontext.regs[0] = (unsigned long long)(v))
#endif

#ifdef SET_RESULT
/* Async-signal-safe: a fixed line, the number in decimal, one write. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx)
{
	static const char head[] = "<3>handshaked: event=seccomp_refused syscall=";
	static const char tail[] = " error=ENOSYS text=\"not on the allow-list ([daemon] seccomp = no turns "
				   "the filter off)\"\n";
	char line[sizeof(head) + 12 + sizeof(tail)], num[12];
	unsigned n = (unsigned)si->si_syscall;
	size_t len = 0, k = 0;
	int saved = errno;

	(void)sig;
	do
		num[k++] = (char)('0' + n % 10);
	while ((n /= 10) && k < sizeof(num));
	memcpy(line, head, sizeof(head) - 1);
	len = sizeof(head) - 1;
	while (k)
		line[len++] = num[--k];
	memcpy(line + len, tail, sizeof(tail) - 1);
	len += sizeof(tail) - 1;
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nowhere else to say it */
	}
	SET_RESULT((ucontext_t *)ctx, -ENOSYS);
	errno = saved;
}
#endif

/* What the daemon calls once it runs, found with strace -f over the
 * daemon's tests (kselftest/daemon*.sh, upcall_*.sh, tests/tcp): the
 * loops, the supervisor, reloads, logging, libcrypto, glibc's threads. */
static const int allowed[] = {
	/* files: reloads, /proc/keys, logging, the sockets' removal at exit */
	SCMP_SYS(read), SCMP_SYS(pread64), SCMP_SYS(readv), SCMP_SYS(write), SCMP_SYS(writev),
	SCMP_SYS(openat), SCMP_SYS(close), SCMP_SYS(fstat), SCMP_SYS(newfstatat), SCMP_SYS(statx),
	SCMP_SYS(lseek), SCMP_SYS(fcntl), SCMP_SYS(getdents64), SCMP_SYS(faccessat), SCMP_SYS(faccessat2),
	SCMP_SYS(readlinkat), SCMP_SYS(unlink), SCMP_SYS(unlinkat), SCMP_SYS(dup), SCMP_SYS(dup3),
	/* memory */
	SCMP_SYS(mmap), SCMP_SYS(munmap), SCMP_SYS(mprotect), SCMP_SYS(mremap), SCMP_SYS(brk),
	SCMP_SYS(madvise),
	/* threads, signals, time */
	SCMP_SYS(futex), SCMP_SYS(set_robust_list), SCMP_SYS(rseq), SCMP_SYS(sched_yield),
	SCMP_SYS(sched_getaffinity), SCMP_SYS(gettid), SCMP_SYS(getpid), SCMP_SYS(tgkill),
	SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigaction), SCMP_SYS(rt_sigreturn), SCMP_SYS(sigaltstack),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(signalfd4),
	SCMP_SYS(clock_gettime), SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday), SCMP_SYS(time),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep), SCMP_SYS(poll), SCMP_SYS(ppoll),
	SCMP_SYS(getuid), SCMP_SYS(geteuid), SCMP_SYS(getgid), SCMP_SYS(getegid),
	SCMP_SYS(getrandom),
	/* the loops: io_uring, eventfds, sockets (handoff, TCP, kTLS, netlink), keys */
	SCMP_SYS(io_uring_enter), SCMP_SYS(accept4), SCMP_SYS(recvfrom), SCMP_SYS(recvmsg),
	SCMP_SYS(sendto), SCMP_SYS(sendmsg), SCMP_SYS(getsockopt), SCMP_SYS(setsockopt),
	SCMP_SYS(getpeername), SCMP_SYS(getsockname), SCMP_SYS(shutdown), SCMP_SYS(connect),
	SCMP_SYS(keyctl),
};

/* Under ASan (make SAN=1) LeakSanitizer stops the threads at exit with
 * ptrace from a clone of its own: no filter there. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || __has_feature(thread_sanitizer)
#define SANITIZED 1
#endif
#endif

int sandbox_seccomp(void)
{
	scmp_filter_ctx f;
	int r = 0;

#ifdef SANITIZED
	log_ev(LOG_WARN, "seccomp_off", "reason=sanitizer text=\"no system call filter in a sanitizer build\"");
	return 0;
#endif

#ifdef SET_RESULT
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) != 0) {
		log_ev(LOG_ERR, "seccomp_failed", "error=%s text=\"SIGSYS handler\"", log_q(strerror(errno)));
		return -1;
	}
	f = seccomp_init(SCMP_ACT_TRAP);
#else
	f = seccomp_init(SCMP_ACT_ERRNO(ENOSYS));
#endif
	if (!f) {
		log_ev(LOG_ERR, "seccomp_failed", "error=%s", log_q(strerror(ENOMEM)));
		return -1;
	}
	/* every thread, also one already running */
	if ((r = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1)) != 0)
		goto fail;
#ifdef HANDSHAKED_SECCOMP_AUDIT
	/* make CFLAGS=-DHANDSHAKED_SECCOMP_AUDIT: the kernel also logs each
	 * refusal (audit type 1326, code 0x30000), clone3's expected ENOSYS
	 * too (0x50000): how the test suite is checked for refusals whose
	 * log lines the tests do not keep. Off by default: no audit noise. */
	seccomp_attr_set(f, SCMP_FLTATR_CTL_LOG, 1);
#endif
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
		if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, allowed[i], 0)) != 0)
			goto fail;
	/* new threads only (pthread_create); clone3's flags sit in memory the
	 * filter cannot read: ENOSYS makes glibc fall back to clone */
	if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				  SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD))) != 0 ||
	    (r = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0)) != 0)
		goto fail;
	/* sockets: Unix ones only (sd_notify); the others are open already */
	if ((r = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0))) != 0)
		goto fail;
	if ((r = seccomp_load(f)) != 0)
		goto fail;
	seccomp_release(f);
	log_ev(LOG_INFO, "seccomp_on", "allowed=%zu", sizeof(allowed) / sizeof(allowed[0]) + 2);
	return 0;
fail:
	log_ev(LOG_ERR, "seccomp_failed", "error=%s", log_q(strerror(-r)));
	seccomp_release(f);
	return -1;
}

/* ---- io_uring ---- */

static const uint8_t ring_ops[] = {
	IORING_OP_ACCEPT,          /* the handoff socket (handoff.c) */
	IORING_OP_POLL_ADD,        /* applications' sockets, the upcall's netlink socket */
	IORING_OP_POLL_REMOVE,     /* the upcall stopping */
	IORING_OP_ASYNC_CANCEL,    /* accepts and handshake I/O that end early */
	IORING_OP_READ,            /* the loop's wake eventfd */
	IORING_OP_RECV,            /* handshake records (hsio.c) */
	IORING_OP_SEND,
	IORING_OP_SENDMSG,         /* records with a record-type cmsg through kTLS */
	IORING_OP_TIMEOUT,         /* deadlines, the accept pause */
	IORING_OP_TIMEOUT_REMOVE,  /* deadline removal and io_uring_prep_timeout_update */
};

int sandbox_ring_init(unsigned entries, struct io_uring *ring)
{
	struct io_uring_restriction res[sizeof(ring_ops)];
	int r;

	if ((r = io_uring_queue_init(entries, ring, IORING_SETUP_R_DISABLED)) < 0)
		return r;
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(ring_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = ring_ops[i];
	}
	/* the raw call: Debian's liburing 2.3 declares io_uring_register_restrictions
	 * and io_uring_enable_rings but does not export them */
	if (syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, sizeof(ring_ops)) < 0 ||
	    syscall(__NR_io_uring_register, ring->ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL, 0) < 0) {
		r = -errno;
		io_uring_queue_exit(ring);
		return r;
	}
	return 0;
}
