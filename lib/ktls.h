/* The kernel TLS (kTLS) interface: attach the "tls" ULP, install TLS 1.3
 * traffic keys for TX/RX, re-key them (KeyUpdate, Linux >= 6.14), send and
 * receive non-data records through control messages, cap TX record size
 * for a peer's record_size_limit (Linux >= 6.19), read the per-socket
 * state back over sock_diag, and read /proc/net/tls_stat.
 *
 * Facts behind every choice here: shared/notes/kernel-ktls.md.
 *
 * Error convention: functions return enum ktls_err (KTLS_OK == 0). On
 * failure errno holds the underlying system error (0 if there was none),
 * so ktls_error_text() can say both what failed and why.
 */
#ifndef KTLS_H
#define KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <linux/tls.h>

#include "tls/crypto.h"

/* Constants missing from older uapi headers (Debian 6.1 linux-libc-dev). */
#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef TLS_TX_MAX_PAYLOAD_LEN             /* >= 6.19 */
#define TLS_TX_MAX_PAYLOAD_LEN 5
#endif
#define KTLS_INFO_TX_MAX_PAYLOAD_LEN 7     /* enum member in >= 6.19 headers */

/* TLS content types (the kernel's are in a kernel-internal header). */
enum {
	KTLS_CT_CCS = 20,
	KTLS_CT_ALERT = 21,
	KTLS_CT_HANDSHAKE = 22,
	KTLS_CT_DATA = 23,
};
#define KTLS_HS_NEW_SESSION_TICKET 4
#define KTLS_HS_KEY_UPDATE 24

enum ktls_dir {
	KTLS_DIR_TX = TLS_TX,
	KTLS_DIR_RX = TLS_RX,
};

enum ktls_err {
	KTLS_OK = 0,
	KTLS_E_NO_ULP,             /* ENOENT on TCP_ULP */
	KTLS_E_NOT_CONNECTED,      /* ENOTCONN: listening or unconnected socket */
	KTLS_E_OTHER_ULP,          /* EEXIST and the attached ULP is not "tls" */
	KTLS_E_CIPHER,             /* TLS_TX/RX refused the cipher */
	KTLS_E_REKEY_UNSUPPORTED,  /* EBUSY on a second TLS_TX/RX: kernel < 6.14 */
	KTLS_E_REKEY_MISMATCH,     /* EINVAL on a re-key: version/cipher changed */
	KTLS_E_NOT_INSTALLED,      /* the direction has no key yet */
	KTLS_E_NO_PAD_UNSUPPORTED, /* TLS_RX_EXPECT_NO_PAD refused */
	KTLS_E_DERIVE,             /* HKDF key/iv derivation failed */
	KTLS_E_INVALID,            /* bad argument from the caller */
	KTLS_E_AGAIN,              /* EAGAIN/EWOULDBLOCK (or SO_RCVTIMEO expired) */
	KTLS_E_REKEY_PENDING,      /* EKEYEXPIRED: KeyUpdate read, next RX key missing */
	KTLS_E_NEED_CMSG,          /* EIO: control record read without cmsg space */
	KTLS_E_DECRYPT,            /* EBADMSG: record failed to decrypt, conn dead */
	KTLS_E_CLOSED,             /* orderly shutdown by the peer */
	KTLS_E_NO_RECORD_TYPE,     /* no TLS_GET_RECORD_TYPE cmsg: RX not installed? */
	KTLS_E_DIAG,               /* sock_diag request failed */
	KTLS_E_DIAG_NOT_FOUND,     /* socket not found by sock_diag */
	KTLS_E_DIAG_NO_ULP,        /* reply had no ULP info */
	KTLS_E_DIAG_MALFORMED,     /* reply failed attribute validation */
	KTLS_E_STAT,               /* /proc/net/tls_stat or the counter missing */
	KTLS_E_SYS,                /* any other system call failure (see errno) */
	KTLS_E_MAX_PAYLOAD_UNSUPPORTED, /* TLS_TX_MAX_PAYLOAD_LEN: Linux < 6.19 */
	KTLS_E_TX_PENDING,         /* EBUSY: TX data already queued in an open record */
	KTLS_E_PARTIAL,            /* a record went out only in part: stream unusable */
	KTLS_E_COUNT_
};

/* Static text for a code, e.g. "cipher not supported by this kernel". */
const char *ktls_strerror(enum ktls_err e);
/* "<ktls_strerror(e)>: <strerror(errnum)>" (errnum 0: just the first part)
 * into buf; returns buf. */
const char *ktls_error_text(enum ktls_err e, int errnum, char *buf, size_t len);

/* ---- feature probe (run once at start) ---- */

enum { KTLS_NCIPHERS = 4 };   /* AES-128-GCM, AES-256-GCM, CHACHA20-POLY1305, AES-128-CCM */

/* The four TLS 1.3 suites kTLS can take, in probe order. */
extern const uint16_t ktls_probe_suites[KTLS_NCIPHERS];

struct ktls_probe {
	char kernel[65];           /* uname release */
	bool ulp;                  /* TCP_ULP "tls" attaches */
	enum ktls_err ulp_err;
	int ulp_errno;
	bool cipher[KTLS_NCIPHERS];        /* TLS 1.3 TLS_TX accepted */
	enum ktls_err cipher_err[KTLS_NCIPHERS];
	int cipher_errno[KTLS_NCIPHERS];
	bool rekey;                /* a second TLS_TX on the same socket worked */
	int rekey_errno;           /* EBUSY on < 6.14 */
	bool rekey_counters;       /* TlsRxRekeyOk present in /proc/net/tls_stat */
	bool rx_no_pad;            /* TLS_RX_EXPECT_NO_PAD accepted */
	int rx_no_pad_errno;
	bool tx_max_payload;       /* TLS_TX_MAX_PAYLOAD_LEN (>= 6.19) accepted */
	int tx_max_payload_errno;  /* ENOPROTOOPT before 6.19 */
};

/* Probes on throwaway loopback TCP connections. Fills p completely; returns
 * KTLS_OK if at least the ULP and one cipher work, else the first blocking
 * error (KTLS_E_NO_ULP when the module is missing). */
enum ktls_err ktls_probe_run(struct ktls_probe *p);
/* Multi-line human readable summary ("kernel TLS: ...\n"); returns the
 * length that would have been written (snprintf style). */
size_t ktls_probe_format(const struct ktls_probe *p, char *buf, size_t len);

/* ---- installing keys ---- */

/* Attaches the "tls" ULP (no-op if already attached). */
enum ktls_err ktls_attach(int fd);
/* True if the direction has a key installed (getsockopt probe). */
bool ktls_is_installed(int fd, enum ktls_dir dir);

/* Derives key/iv from a TLS 1.3 traffic secret (cs->hash_len bytes) and
 * installs them for dir with the given next record sequence number (0 for a
 * fresh key). Attaches the ULP first if needed. If dir already has a key this
 * is a re-key: KTLS_E_REKEY_UNSUPPORTED on kernels < 6.14, and the old key
 * stays in force on any failure. */
enum ktls_err ktls_install(int fd, enum ktls_dir dir, const tls_cipher *cs,
			   const uint8_t *secret, uint64_t rec_seq);
/* Re-key with the next traffic secret (rec_seq 0); dir must be installed. */
enum ktls_err ktls_rekey(int fd, enum ktls_dir dir, const tls_cipher *cs,
			 const uint8_t *next_secret);
/* Our TX KeyUpdate, in the order the kernel needs: refuses up front when the
 * kernel cannot re-key (nothing sent), then sends KeyUpdate(request) under
 * the old key via cmsg, then installs next_secret for TX. On a full
 * non-blocking socket: KTLS_E_AGAIN with nothing sent and nothing changed
 * (retry after POLLOUT). If only part of the 5 bytes went out, the rest is
 * waited for at most KTLS_KEY_UPDATE_WAIT_MS; after that KTLS_E_PARTIAL:
 * the peer holds half a message, close the connection. */
#define KTLS_KEY_UPDATE_WAIT_MS 10000
enum ktls_err ktls_key_update_tx(int fd, const tls_cipher *cs, const uint8_t *next_secret,
				 bool request_update);
/* True if the running kernel supports TLS 1.3 re-key (tls_stat counters). */
bool ktls_rekey_supported(void);
/* TLS_RX_EXPECT_NO_PAD (>= 6.0, TLS 1.3 RX installed): zero-copy decrypt for
 * peers that never pad. */
enum ktls_err ktls_set_rx_no_pad(int fd, bool on);
/* RFC 8449 record_size_limit of the peer -> the kernel's TX cap: the
 * limit counts TLS 1.3's inner content-type byte, the kernel's cap does
 * not, so limit - 1 (as tlshd does), at most 16384. 0 for limit < 64. */
uint16_t ktls_max_payload_for_limit(uint16_t record_size_limit);
/* TLS_TX_MAX_PAYLOAD_LEN (Linux >= 6.19): the kernel cuts TX records at
 * `bytes` of plaintext (63..16384; 63 only once TLS 1.3 TX is installed).
 * Set it before any data is queued (KTLS_E_TX_PENDING otherwise, e.g. a
 * MSG_MORE or sendfile record still open). KTLS_E_MAX_PAYLOAD_UNSUPPORTED
 * ("record_size_limit needs Linux 6.19") on older kernels. The ULP must be
 * attached (ktls_attach or ktls_install). */
enum ktls_err ktls_set_tx_max_payload(int fd, uint16_t bytes);
/* Reads the cap back (16384 unless set); same errors. Also the cheap
 * per-socket feature test before installing any key. */
enum ktls_err ktls_get_tx_max_payload(int fd, uint16_t *bytes);
/* Version, cipher type and the next record sequence number of dir, read back
 * with getsockopt (the key material copied out is wiped). */
enum ktls_err ktls_get_state(int fd, enum ktls_dir dir, uint16_t *version,
			     uint16_t *cipher_type, uint64_t *rec_seq);

/* ---- records ---- */

/* Sends len (> 0) bytes as records of the given content type (alert 21,
 * handshake 22, or data 23) with TLS_SET_RECORD_TYPE, retrying short sends
 * and EINTR. It never waits beyond what the socket itself does:
 *  - blocking socket: returns when all is sent, or KTLS_E_AGAIN when
 *    SO_SNDTIMEO expired;
 *  - non-blocking socket: KTLS_E_AGAIN as soon as the socket buffer is
 *    full.
 * *sent (may be NULL) is always the count accepted so far. After
 * KTLS_E_AGAIN with 0 < *sent < len, wait for POLLOUT and call again with
 * the rest and the same type (the rest becomes records of its own: fine for
 * data and handshake messages; an alert must not be split, but 2 bytes
 * never are in practice). */
enum ktls_err ktls_send_record(int fd, uint8_t type, const void *data, size_t len, size_t *sent);

struct ktls_rec {
	uint8_t type;              /* content type of everything returned */
	size_t len;                /* bytes placed in buf */
	bool complete;             /* MSG_EOR: the record was consumed whole */
};

/* One recvmsg with room for the record type. Returns data of one type only;
 * a control record comes alone (read again if !complete). flags: recvmsg
 * flags (MSG_DONTWAIT, MSG_PEEK, MSG_WAITALL). */
enum ktls_err ktls_recv_record(int fd, void *buf, size_t cap, int flags, struct ktls_rec *rec);

/* ---- sock_diag ULP info ---- */

struct ktls_diag {
	char ulp[16];              /* INET_ULP_INFO_NAME, "tls" */
	bool has_tls;              /* INET_ULP_INFO_TLS nest present */
	uint16_t version;          /* TLS_1_3_VERSION, 0 if unset */
	uint16_t cipher;           /* TLS_CIPHER_*, 0 if unset */
	uint16_t txconf;           /* TLS_CONF_BASE/SW/HW/HW_RECORD, 0 if absent */
	uint16_t rxconf;
	bool rx_no_pad;
	bool zc_ro_tx;
	uint16_t tx_max_payload;   /* >= 6.19, 0 if absent */
};

/* Looks fd's TCP socket up by its 4-tuple (IPv4 or IPv6) with
 * SOCK_DIAG_BY_FAMILY + INET_DIAG_INFO and parses INET_DIAG_ULP_INFO.
 * KTLS_E_DIAG_NO_ULP if the reply carries none (no ULP attached, or
 * Linux < 6.15 without CAP_NET_ADMIN). Raw netlink (lib/ktls_diag.c), no libmnl. */
enum ktls_err ktls_diag_get(int fd, struct ktls_diag *out);
/* "base", "sw", "hw", "hw-record" or "?". */
const char *ktls_conf_name(uint16_t conf);

/* ---- /proc/net/tls_stat ---- */

/* Reads one counter by name (e.g. "TlsTxRekeyOk"). KTLS_E_STAT if the
 * file (tls.ko not loaded) or the counter (older kernel) is missing. */
enum ktls_err ktls_stat_get(const char *name, uint64_t *value);

#endif
