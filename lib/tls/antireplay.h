/* 0-RTT anti-replay: all of it is public (<handshake/tls.h>, "0-RTT
 * anti-replay"); this name stays for the engine's own includes. */
#ifndef TLS_ANTIREPLAY_H
#define TLS_ANTIREPLAY_H

#include <handshake/tls.h>

#endif
