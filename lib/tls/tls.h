/* The engine's full API inside the project: the public one
 * (<handshake/tls.h>, what libhandshake.so exports) plus what needs
 * libcrypto's types or the engine's building blocks, for the daemon, the
 * tools and the tests. */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <handshake/tls.h>

#include "tls/antireplay.h"
#include "tls/crypto.h"
#include "tls/keyupdate.h"
#include "tls/stek.h"
#include "tls/wire.h"

/* Adds a certificate chain + key (see tls_config_add_cert_files). On success takes ownership of chain and key; on failure (-1) the caller
 * still owns both. */
int tls_config_add_cert(tls_config *cfg, tls_chain *chain, EVP_PKEY *key);

#endif
