/* Client internals shared by client.c (the state machine) and
 * client_hello.c (the first flight). Not part of the engine's interface. */
#ifndef TLS_CLIENT_H
#define TLS_CLIENT_H

#include "tls/engine.h"

/* Sends ClientHello1 (with any 0-RTT) or, after an HRR, ClientHello2. */
int tls_cli_send_client_hello(tls_conn *c, tls_buf *out, bool second);
/* True when we offered ALPN protocol p (this connection's list or the config's). */
bool tls_cli_alpn_offered(const tls_conn *c, const uint8_t *p, size_t n);

#endif
