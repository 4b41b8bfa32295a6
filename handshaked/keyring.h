/* The kernel's key retention service through keyctl(2) (no libkeyutils):
 * what the handshake upcall needs to find PSKs and certificates that
 * kernel consumers (NVMe/TCP, NFS) put in keyrings. Daemon-internal. */
#ifndef HANDSHAKED_KEYRING_H
#define HANDSHAKED_KEYRING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef int32_t key_serial;

/* The keyring called name that this process can view (/proc/keys, as
 * keyutils' find_key_by_type_and_desc does for kernel keyrings such as
 * .nvme); 0 when there is none. */
key_serial keyring_by_name(const char *name);
/* Links ring into this process's keyring (made on first use): the keys in
 * it are then "possessed" by every thread, so their possessor permissions
 * (read, for a key added with the default ones) apply, as tlshd does with
 * its session keyring. 0, or -1 with errno. */
int keyring_link(key_serial ring);
/* The key's description (the text after the last ';' of KEYCTL_DESCRIBE)
 * and its type; -1 with errno. */
int keyring_describe(key_serial key, char *type, size_t type_len, char *desc, size_t desc_len);
/* The key's payload into buf (at most len bytes); its length, or -1 with
 * errno (EMSGSIZE when it does not fit: buf is wiped). */
ssize_t keyring_read(key_serial key, uint8_t *buf, size_t len);
/* A key of type with description desc in ring (or the rings it links);
 * 0 when none, -1 on other errors (errno). */
key_serial keyring_search(key_serial ring, const char *type, const char *desc);

/* NVMe/TCP PSK identities ("NVMe<v><R|G><hh> ...", NVMe TCP transport
 * spec §3.6.1.3): hh 01 is SHA-256, 02 SHA-384. The TLS cipher suite
 * whose hash fits (TLS_AES_128_GCM_SHA256 or TLS_AES_256_GCM_SHA384);
 * other identities: SHA-256 for 32-byte keys, SHA-384 for 48-byte keys,
 * 0 otherwise. */
uint16_t keyring_psk_cipher(const char *identity, size_t key_len);

#endif
