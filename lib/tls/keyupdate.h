/* KeyUpdate (RFC 8446 §4.6.3) message codec, without a live engine.
 *
 * A kTLS socket is re-keyed from its post-handshake object (tls_post in
 * tls.h: tls_post_key_update_recv/send parse or build the message and move
 * the secret on with tls_next_traffic_secret, label "traffic upd"); the
 * new secret goes into the kernel with rec_seq 0. A KeyUpdate must be the
 * last message of its record: the records after it are under the new key.
 */
#ifndef TLS_KEYUPDATE_H
#define TLS_KEYUPDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls/crypto.h"



/* Writes the whole handshake message (header included) to out. */
void tls_key_update_build(uint8_t out[TLS_KEY_UPDATE_MSG_LEN], bool request_peer);
/* Parses a KeyUpdate body (after the 4-byte header). Returns 0 with
 * *request_peer set, or the alert: decode_error (length) or
 * illegal_parameter (request value other than 0 or 1). */
int tls_key_update_parse_body(const uint8_t *body, size_t len, bool *request_peer);
/* Parses a whole message (header included): also checks type and length
 * (unexpected_message / decode_error). */
int tls_key_update_parse(const uint8_t *msg, size_t len, bool *request_peer);

#endif
