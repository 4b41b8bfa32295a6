/* Test certificates made by tests/certs/mk, cached in $BUILD/certs.
 *
 *   const char *ca = test_cert("ca.pem");
 *
 * The first call runs tests/certs/mk (a no-op when the set is complete). The
 * build directory is found from the running program's path
 * ($BUILD/tests/unit/NAME or $BUILD/tests/peer), or from $TEST_CERTS.
 */
#ifndef TEST_CERTS_H
#define TEST_CERTS_H

/* Directory holding the certificates, or NULL (reason on stderr). */
const char *test_certs_dir(void);
/* Full path of one file of the set; aborts if the set cannot be made.
 * Returns one of 32 rotating static buffers. */
const char *test_cert(const char *file);

#endif
