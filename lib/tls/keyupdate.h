/* KeyUpdate (RFC 8446 §4.6.3) without a live engine.
 *
 * The client library re-keys a kTLS socket from a saved application
 * traffic secret: it parses the KeyUpdate it read, derives the next secret
 * with tls_next_traffic_secret (crypto.h, label "traffic upd"), derives key
 * and IV with tls_traffic_key_derive, installs them with rec_seq 0, and
 * answers update_requested with a KeyUpdate of its own built here (then
 * moves its own TX secret on the same way). A KeyUpdate must be the last
 * message of its record: the records after it are under the new key.
 */
#ifndef TLS_KEYUPDATE_H
#define TLS_KEYUPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/crypto.h"

#define TLS_KEY_UPDATE_MSG_LEN 5   /* type, u24 length 1, request byte */

/* Writes the whole handshake message (header included) to out. */
void tls_key_update_build(uint8_t out[TLS_KEY_UPDATE_MSG_LEN], bool request_peer);
/* Parses a KeyUpdate body (after the 4-byte header). Returns 0 with
 * *request_peer set, or the alert: decode_error (length) or
 * illegal_parameter (request value other than 0 or 1). */
int tls_key_update_parse_body(const uint8_t *body, size_t len, bool *request_peer);
/* Parses a whole message (header included): also checks type and length
 * (unexpected_message / decode_error). */
int tls_key_update_parse(const uint8_t *msg, size_t len, bool *request_peer);
/* secret -> next secret and its key/iv in one step. 0 on success. */
int tls_key_update_next(const tls_cipher *cs, const uint8_t *secret, uint8_t *next,
			uint8_t *key, uint8_t iv[TLS_IV_LEN]);

#endif
