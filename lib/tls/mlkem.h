/* ML-KEM-768 (FIPS 203), on libcrypto's SHA3-256/SHA3-512/SHAKE128/SHAKE256.
 *
 * OpenSSL 3.0 has no ML-KEM, so the engine carries its own. Every operation
 * on secret data is constant time: no branch and no table index depends on
 * a secret (tests/unit/mlkem_ct.c checks this with valgrind, secrets marked
 * undefined). Secret intermediates are wiped with OPENSSL_cleanse.
 *
 * The randomized forms draw their seeds from RAND_priv_bytes; the
 * deterministic "internal" forms (FIPS 203 §6) exist for known-answer tests.
 * All functions return 0 on success and -1 on failure; on failure the
 * outputs are zeroed.
 */
#ifndef TLS_MLKEM_H
#define TLS_MLKEM_H

#include <stddef.h>
#include <stdint.h>

#define TLS_MLKEM768_EK_LEN 1184   /* encapsulation key */
#define TLS_MLKEM768_DK_LEN 2400   /* decapsulation key */
#define TLS_MLKEM768_CT_LEN 1088   /* ciphertext */
#define TLS_MLKEM768_SS_LEN 32     /* shared secret */
#define TLS_MLKEM768_SEED_LEN 32   /* d, z and m each */

/* ML-KEM.KeyGen (Algorithm 19). */
int tls_mlkem768_keygen(uint8_t ek[TLS_MLKEM768_EK_LEN], uint8_t dk[TLS_MLKEM768_DK_LEN]);
/* ML-KEM.Encaps (Algorithm 20) with the input checks of §7.2: ek_len must
 * be 1184 and every 12-bit coefficient of ek must be < q (so that decoding
 * and re-encoding gives ek back); -1 otherwise. */
int tls_mlkem768_encaps(uint8_t ct[TLS_MLKEM768_CT_LEN], uint8_t ss[TLS_MLKEM768_SS_LEN],
			const uint8_t *ek, size_t ek_len);
/* ML-KEM.Decaps (Algorithm 21) with the input checks of §7.3: ct_len 1088,
 * dk_len 2400, and H(ek) stored in dk equal to the hash of the ek stored in
 * dk; -1 otherwise. A ciphertext that does not re-encrypt to itself is not an
 * error: ss is then the implicit-rejection key J(z || c). */
int tls_mlkem768_decaps(uint8_t ss[TLS_MLKEM768_SS_LEN], const uint8_t *ct, size_t ct_len,
			const uint8_t *dk, size_t dk_len);

/* ML-KEM.KeyGen_internal(d, z) (Algorithm 16). */
int tls_mlkem768_keygen_internal(uint8_t ek[TLS_MLKEM768_EK_LEN], uint8_t dk[TLS_MLKEM768_DK_LEN],
				 const uint8_t d[TLS_MLKEM768_SEED_LEN],
				 const uint8_t z[TLS_MLKEM768_SEED_LEN]);
/* ML-KEM.Encaps_internal(ek, m) (Algorithm 17), with the §7.2 checks. */
int tls_mlkem768_encaps_internal(uint8_t ct[TLS_MLKEM768_CT_LEN], uint8_t ss[TLS_MLKEM768_SS_LEN],
				 const uint8_t *ek, size_t ek_len,
				 const uint8_t m[TLS_MLKEM768_SEED_LEN]);

/* The §7.2 modulus and length check alone: 0 when ek is acceptable. */
int tls_mlkem768_check_ek(const uint8_t *ek, size_t ek_len);

/* Test build only (TLS_TEST_HOOKS): how many times SampleNTT ran out of
 * squeezed SHAKE128 output and re-derived a longer one, so the tests can
 * show that the fallback path ran (and agreed with the reference). */
extern unsigned long tls_mlkem_test_xof_retries;

#endif
