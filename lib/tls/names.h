/* Names of cipher suites, named groups and signature schemes, as
 * configuration text spells them: the one table the daemon's config, the
 * test peer and the logs share. Internal to the project (not exported by
 * libhandshake.so). */
#ifndef TLS_NAMES_H
#define TLS_NAMES_H

#include <stddef.h>
#include <stdint.h>

enum tls_name_kind { TLS_NAMES_CIPHER = 0, TLS_NAMES_GROUP, TLS_NAMES_SIGALG };

/* The id of name[0..len) (ASCII case ignored; groups also take P-256,
 * P-384, P-521). 0, or -1 when the name is unknown. A known name may still
 * be refused by the engine (TLS_AES_128_CCM_8_SHA256, rsa_pkcs1_*):
 * tls_name_refusal says why. */
int tls_cipher_by_name(const char *name, size_t len, uint16_t *id);
int tls_group_by_name(const char *name, size_t len, uint16_t *id);
int tls_sigalg_by_name(const char *name, size_t len, uint16_t *id);

/* The canonical name of an id (IANA for suites, RFC 8446 for groups and
 * schemes), NULL when there is none. */
const char *tls_group_name(uint16_t id);
const char *tls_sigalg_name(uint16_t id);
const char *tls_name_of(enum tls_name_kind kind, uint16_t id);

/* Why the engine will not take a known id in a preference list, as a
 * sentence; NULL when it takes it. */
const char *tls_name_refusal(enum tls_name_kind kind, uint16_t id);

/* "a,b,c" (',' or ':' between names, blanks around them ignored) into at
 * most max ids, in order. The count (>= 1), or -1 with err saying what is
 * wrong: an empty list or name, an unknown or refused name, a duplicate,
 * too many. */
int tls_parse_name_list(enum tls_name_kind kind, const char *list, uint16_t *ids, size_t max,
			char *err, size_t errlen);

#endif
