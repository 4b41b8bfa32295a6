/* Constant-time check of ML-KEM-768 (lib/tls/mlkem.c) with valgrind.
 *
 * The program runs itself under memcheck with the secret inputs (d, z, m,
 * and the secret parts of dk) marked undefined: memcheck then reports every
 * branch ("Conditional jump or move depends on uninitialised value") and
 * every memory address ("Use of uninitialised value" in an address) that
 * depends on a secret. The outputs the protocol publishes (ek, ct) are
 * marked defined again, as is rho inside keygen (lib/tls/mlkem.c,
 * DECLASSIFY). A control run with a deliberate secret-dependent branch and
 * table lookup shows that the harness does catch them.
 *
 *   mlkem_ct            TAP: runs the two valgrind passes below
 *   mlkem_ct --inner    the ML-KEM operations (meant for valgrind)
 *   mlkem_ct --control  a secret-dependent branch and index (must be caught)
 */
#include "test.h"
#include "tls/mlkem.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif

#ifdef HAVE_MEMCHECK

#define SECRET(p, n) ((void)VALGRIND_MAKE_MEM_UNDEFINED((p), (n)))
#define PUBLIC(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))

/* keygen, encaps, decaps of a valid and of a tampered ciphertext. Exits 0
 * when the results are right (checked after declassifying them). */
static int inner(void)
{
	static uint8_t ek[TLS_MLKEM768_EK_LEN], dk[TLS_MLKEM768_DK_LEN], ct[TLS_MLKEM768_CT_LEN];
	uint8_t d[32], z[32], m[32], ss[32], ss2[32], ss3[32];
	for (int i = 0; i < 32; i++) {
		d[i] = (uint8_t)(i * 7 + 1);
		z[i] = (uint8_t)(i * 11 + 2);
		m[i] = (uint8_t)(i * 13 + 3);
	}
	SECRET(d, sizeof(d));
	SECRET(z, sizeof(z));
	SECRET(m, sizeof(m));
	if (tls_mlkem768_keygen_internal(ek, dk, d, z) != 0)
		return 1;
	/* ek is published, and dk carries ek and H(ek) in the clear. */
	PUBLIC(ek, sizeof(ek));
	PUBLIC(dk + 1152, TLS_MLKEM768_EK_LEN + 32);
	if (tls_mlkem768_encaps_internal(ct, ss, ek, sizeof(ek), m) != 0)
		return 1;
	PUBLIC(ct, sizeof(ct));
	if (tls_mlkem768_decaps(ss2, ct, sizeof(ct), dk, sizeof(dk)) != 0)
		return 1;
	ct[100] ^= 4;
	if (tls_mlkem768_decaps(ss3, ct, sizeof(ct), dk, sizeof(dk)) != 0)
		return 1;
	PUBLIC(ss, 32);
	PUBLIC(ss2, 32);
	PUBLIC(ss3, 32);
	return memcmp(ss, ss2, 32) == 0 && memcmp(ss, ss3, 32) != 0 ? 0 : 2;
}

/* What the check must catch: a branch on a secret, a table index from one. */
static int control(void)
{
	static const uint8_t table[256] = { 1, 2, 3 };
	volatile uint8_t secret[2] = { 5, 9 };
	unsigned acc = 0;
	SECRET((void *)secret, sizeof(secret));
	if (secret[0] & 1)             /* a call: no compiler makes this a cmov */
		test_diag("secret is odd");
	acc += table[secret[1]];
	PUBLIC(&acc, sizeof(acc));
	return acc > 1000;
}

/* Runs self with mode under memcheck; the log goes to log_path. Returns the
 * exit status, or -1 when valgrind could not be started. */
static int run_valgrind(const char *self, const char *mode, const char *log_path)
{
	char log_opt[PATH_MAX + 16];
	snprintf(log_opt, sizeof(log_opt), "--log-file=%s", log_path);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		/* The child's own output is not TAP of this program. */
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, STDOUT_FILENO);
		execlp("valgrind", "valgrind", "--tool=memcheck", "--error-exitcode=99",
		       "--track-origins=yes", log_opt, self, mode, (char *)NULL);
		_exit(127);
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st) == 127 ? -1 : WEXITSTATUS(st);
}

/* Counts log lines containing what; prints the first few as diagnostics. */
static int count_in_log(const char *log_path, const char *what, bool show);

/* valgrind 3.19 cannot read clang's DWARF 5 and gives up on the program:
 * then it runs on a copy without debug info (reports name functions, not
 * lines). Returns the path to run, self or the copy in copy_path. */
static const char *runnable_self(const char *self, const char *log_path, char *copy_path)
{
	if (count_in_log(log_path, "can't recover", false) <= 0)
		return self;
	int fd = mkstemp(copy_path);
	if (fd < 0)
		return NULL;
	close(fd);
	char cmd[3 * PATH_MAX];
	snprintf(cmd, sizeof(cmd), "objcopy --strip-debug '%s' '%s' && chmod 700 '%s'", self,
		 copy_path, copy_path);
	if (system(cmd) != 0) {
		unlink(copy_path);
		return NULL;
	}
	test_diag("valgrind cannot read this build's debug info; running a stripped copy");
	return copy_path;
}

/* Counts log lines containing what; prints the first few as diagnostics. */
static int count_in_log(const char *log_path, const char *what, bool show)
{
	FILE *f = fopen(log_path, "r");
	char line[1024];
	int n = 0;
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, what)) {
			if (show && n < 10)
				test_diag("%s", line);
			n++;
		}
	}
	fclose(f);
	return n;
}

static void dump_log(const char *log_path)
{
	FILE *f = fopen(log_path, "r");
	char line[1024];
	int n = 0;
	while (f && fgets(line, sizeof(line), f) && n++ < 60)
		test_diag("%s", strtok(line, "\n") ? line : "");
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--inner") == 0)
		return inner();
	if (argc > 1 && strcmp(argv[1], "--control") == 0)
		return control();

	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0) {
		test_ok(false, "find own executable: %s", strerror(errno));
		return test_done();
	}
	self[n] = 0;
	char log_path[] = "/tmp/mlkem_ct.XXXXXX";
	int fd = mkstemp(log_path);
	if (fd < 0) {
		test_ok(false, "temporary log file: %s", strerror(errno));
		return test_done();
	}
	close(fd);

	/* The control first: a harness that finds nothing proves nothing. */
	char copy_path[] = "/tmp/mlkem_ct_bin.XXXXXX";
	int rc = run_valgrind(self, "--control", log_path);
	if (rc < 0) {
		unlink(log_path);
		printf("1..0 # SKIP valgrind not runnable (./deps installs it)\n");
		return 0;
	}
	const char *prog = runnable_self(self, log_path, copy_path);
	if (!test_ok(prog != NULL, "a copy of the program valgrind can read")) {
		unlink(log_path);
		return test_done();
	}
	if (prog != self)
		rc = run_valgrind(prog, "--control", log_path);
	test_ok(rc == 99 && count_in_log(log_path, "Conditional jump or move depends on uninit", false) > 0,
		"control: memcheck reports a branch on a secret");
	test_ok(count_in_log(log_path, "Use of uninitialised value", false) > 0,
		"control: memcheck reports a table index from a secret");

	rc = run_valgrind(prog, "--inner", log_path);
	int branches = count_in_log(log_path, "Conditional jump or move depends on uninit", true);
	int addresses = count_in_log(log_path, "Use of uninitialised value", true);
	int in_mlkem = count_in_log(log_path, "mlkem.c", false);
	test_ok(rc != 1 && rc != 2, "under memcheck: ML-KEM results right (valid ct -> K, tampered -> other)");
	test_ok(branches == 0, "keygen/encaps/decaps: no branch on a secret (%d reported)", branches);
	test_ok(addresses == 0, "keygen/encaps/decaps: no address from a secret (%d reported)", addresses);
	test_ok(in_mlkem == 0, "no memcheck report points into mlkem.c (%d lines)", in_mlkem);
	if (!test_ok(rc == 0, "memcheck run clean (exit status %d)", rc))
		dump_log(log_path);
	unlink(log_path);
	if (prog != self)
		unlink(copy_path);
	return test_done();
}

#else

int main(void)
{
	printf("1..0 # SKIP valgrind/memcheck.h not installed (./deps installs valgrind)\n");
	return 0;
}

#endif
