/* Session ticket encryption keys: the ring, rotation, and the key file. */
#include "tls/stek.h"
#include "tls/crypto.h"
#include "tls/ticket.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tls/wire.h"

struct tls_stek_ring {
	/* Sealing and opening (any thread) take it shared and copy the key they
	 * use; rotation and loading take it exclusive. */
	pthread_rwlock_t lock;
	tls_stek keys[TLS_STEK_MAX_KEYS]; /* [0] current, then newest first */
	size_t n;
	size_t keep;
	uint64_t period_s;
	bool from_file;
	/* indexed by enum tls_ticket_result; __atomic builtins only */
	uint64_t opens[TLS_TICKET_MALFORMED + 1];
	uint64_t decrypts;
};

#define LINE_MAX_LEN 255

/* The ring holds the keys themselves: it lives in libcrypto's secure heap
 * (mlock'd, left out of core dumps) when the program set one up
 * (CRYPTO_secure_malloc_init, as handshaked does), else in the ordinary
 * heap; either way it is wiped when freed. */
tls_stek_ring *tls_stek_ring_new(size_t keep, uint64_t period_s)
{
	if (keep >= TLS_STEK_MAX_KEYS)
		return NULL;
	tls_stek_ring *ring = OPENSSL_secure_zalloc(sizeof(*ring));
	if (!ring)
		return NULL;
	if (pthread_rwlock_init(&ring->lock, NULL) != 0) {
		OPENSSL_secure_free(ring);
		return NULL;
	}
	ring->keep = keep;
	ring->period_s = period_s;
	return ring;
}

void tls_stek_ring_free(tls_stek_ring *ring)
{
	if (!ring)
		return;
	pthread_rwlock_destroy(&ring->lock);
	OPENSSL_secure_clear_free(ring, sizeof(*ring));
}

static void rdlock(const tls_stek_ring *ring)
{
	pthread_rwlock_rdlock((pthread_rwlock_t *)&ring->lock);
}

static void wrlock(tls_stek_ring *ring)
{
	pthread_rwlock_wrlock(&ring->lock);
}

static void unlock(const tls_stek_ring *ring)
{
	pthread_rwlock_unlock((pthread_rwlock_t *)&ring->lock);
}

static int rotate_locked(tls_stek_ring *ring, uint64_t now_s)
{
	tls_stek fresh = { .created = now_s };
	if (RAND_bytes(fresh.id, sizeof(fresh.id)) != 1 ||
	    RAND_bytes(fresh.key, sizeof(fresh.key)) != 1) {
		OPENSSL_cleanse(&fresh, sizeof(fresh));
		return -1;
	}
	/* Make room: after the rotation at most 1 + keep keys remain. A
	 * file-backed ring may hold more than that before its first rotation. */
	while (ring->n > ring->keep) {
		ring->n--;
		OPENSSL_cleanse(&ring->keys[ring->n], sizeof(tls_stek));
	}
	memmove(&ring->keys[1], &ring->keys[0], ring->n * sizeof(tls_stek));
	ring->keys[0] = fresh;
	ring->n++;
	OPENSSL_cleanse(&fresh, sizeof(fresh));
	return 0;
}

int tls_stek_ring_rotate(tls_stek_ring *ring, uint64_t now_s)
{
	wrlock(ring);
	int rc = rotate_locked(ring, now_s);
	unlock(ring);
	return rc;
}

int tls_stek_ring_maybe_rotate(tls_stek_ring *ring, uint64_t now_s)
{
	wrlock(ring);
	bool due = !ring->from_file && ring->n == 0;
	if (!ring->from_file && !due) {
		const tls_stek *cur = &ring->keys[0];
		/* A clock that went backwards (created > now) does not rotate. */
		if (ring->period_s && now_s >= cur->created && now_s - cur->created >= ring->period_s)
			due = true;
		if (__atomic_load_n(&cur->seals, __ATOMIC_RELAXED) >= TLS_STEK_ROTATE_SEALS)
			due = true;
	}
	int rc = !due ? 0 : rotate_locked(ring, now_s) == 0 ? 1 : -1;
	unlock(ring);
	return rc;
}

/* A key's copy for the caller; seals is read atomically, as loops sealing
 * on other threads are counting it meanwhile. */
static void copy_key(tls_stek *out, const tls_stek *k)
{
	memcpy(out->id, k->id, sizeof(out->id));
	memcpy(out->key, k->key, sizeof(out->key));
	out->created = k->created;
	out->seals = __atomic_load_n(&k->seals, __ATOMIC_RELAXED);
}

int tls_stek_ring_seal_key(tls_stek_ring *ring, tls_stek *out)
{
	int rc = -1;
	rdlock(ring);
	/* Every seal attempt counts against the key, whether or not it then
	 * succeeds: a nonce drawn is a nonce used. */
	if (ring->n &&
	    __atomic_fetch_add(&ring->keys[0].seals, 1, __ATOMIC_RELAXED) < TLS_STEK_MAX_SEALS) {
		copy_key(out, &ring->keys[0]);
		rc = 0;
	}
	unlock(ring);
	return rc;
}

int tls_stek_ring_lookup(const tls_stek_ring *ring, const uint8_t id[TLS_STEK_ID_LEN],
			 tls_stek *out)
{
	int rc = -1;
	rdlock(ring);
	const tls_stek *k = tls_stek_ring_find(ring, id);
	if (k) {
		copy_key(out, k);
		rc = 0;
	}
	unlock(ring);
	return rc;
}

size_t tls_stek_ring_count(const tls_stek_ring *ring)
{
	return ring->n;
}

const tls_stek *tls_stek_ring_key(const tls_stek_ring *ring, size_t i)
{
	return i < ring->n ? &ring->keys[i] : NULL;
}

tls_stek *tls_stek_ring_current(tls_stek_ring *ring)
{
	return ring->n ? &ring->keys[0] : NULL;
}

const tls_stek *tls_stek_ring_find(const tls_stek_ring *ring, const uint8_t id[TLS_STEK_ID_LEN])
{
	/* Key ids travel in clear inside every ticket: no need for a
	 * constant-time compare here. */
	for (size_t i = 0; i < ring->n; i++)
		if (memcmp(ring->keys[i].id, id, TLS_STEK_ID_LEN) == 0)
			return &ring->keys[i];
	return NULL;
}

bool tls_stek_ring_from_file(const tls_stek_ring *ring)
{
	return ring->from_file;
}

void tls_stek_ring_count_open(tls_stek_ring *ring, int result, bool decrypted)
{
	if (result >= 0 && result <= TLS_TICKET_MALFORMED)
		__atomic_fetch_add(&ring->opens[result], 1, __ATOMIC_RELAXED);
	if (decrypted)
		__atomic_fetch_add(&ring->decrypts, 1, __ATOMIC_RELAXED);
}

void tls_stek_ring_stats(const tls_stek_ring *ring, tls_stek_stats *st)
{
	const uint64_t *o = ring->opens;
	st->opened = __atomic_load_n(&o[TLS_TICKET_OK], __ATOMIC_RELAXED);
	st->unknown_key = __atomic_load_n(&o[TLS_TICKET_UNKNOWN_KEY], __ATOMIC_RELAXED);
	st->tampered = __atomic_load_n(&o[TLS_TICKET_TAMPERED], __ATOMIC_RELAXED);
	st->expired = __atomic_load_n(&o[TLS_TICKET_EXPIRED], __ATOMIC_RELAXED);
	st->malformed = __atomic_load_n(&o[TLS_TICKET_MALFORMED], __ATOMIC_RELAXED);
	st->decrypts = __atomic_load_n(&ring->decrypts, __ATOMIC_RELAXED);
}

/* ---- the key file ---- */

static int hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Reads exactly 2*n hex digits into out; false on anything else. */
static bool read_hex(tls_reader *r, uint8_t *out, size_t n)
{
	const uint8_t *s = tls_read_bytes(r, 2 * n);
	if (!s)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

static bool read_char(tls_reader *r, uint8_t want)
{
	const uint8_t *s = tls_read_bytes(r, 1);
	return s && *s == want;
}

/* Decimal unix seconds filling the rest of the line. */
static bool read_decimal(tls_reader *r, uint64_t *out)
{
	uint64_t v = 0;
	if (r->left == 0 || r->left > 20)
		return false;
	while (r->left) {
		uint8_t c = tls_read_u8(r);
		if (c < '0' || c > '9' || v > (UINT64_MAX - (c - '0')) / 10)
			return false;
		v = v * 10 + (c - '0');
	}
	*out = v;
	return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	uint8_t acc = 0;
	for (size_t i = 0; i < n; i++)
		acc |= p[i];
	return acc == 0;
}

/* Parses one key line into k; on failure returns a reason. */
static const char *parse_key_line(const uint8_t *line, size_t len, tls_stek *k)
{
	tls_reader r = tls_reader_init(line, len);
	const uint8_t *v = tls_read_bytes(&r, 2);
	if (!v || v[0] != 'v')
		return "not a key line (expected \"v1 <id> <key> <created>\")";
	if (v[1] != '1')
		return "unsupported key file version (this build reads v1)";
	if (!read_char(&r, ' '))
		return "expected a space after \"v1\"";
	if (!read_hex(&r, k->id, TLS_STEK_ID_LEN))
		return "key id must be 32 hex digits";
	if (!read_char(&r, ' '))
		return "expected a space after the key id";
	if (!read_hex(&r, k->key, TLS_STEK_KEY_LEN))
		return "key must be 64 hex digits";
	if (!read_char(&r, ' '))
		return "expected a space after the key";
	if (!read_decimal(&r, &k->created))
		return "creation time must be unix seconds (decimal digits only)";
	if (all_zero(k->key, TLS_STEK_KEY_LEN))
		return "key is all zeros";
	k->seals = 0;
	return NULL;
}

/* Parses a whole file into keys[]; returns the count or -1 with err set. */
static int parse_key_file(const uint8_t *data, size_t len, tls_stek *keys, const char *path,
			  char *err, size_t errlen)
{
	size_t n = 0;
	int lineno = 0;
	tls_reader file = tls_reader_init(data, len);
	while (file.left) {
		const uint8_t *nl = memchr(file.p, '\n', file.left);
		size_t line_len = nl ? (size_t)(nl - file.p) : file.left;
		const uint8_t *line = tls_read_bytes(&file, line_len);
		if (nl)
			tls_read_bytes(&file, 1);
		lineno++;
		if (line_len > LINE_MAX_LEN) {
			tls_set_err(err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
				LINE_MAX_LEN);
			return -1;
		}
		if (line_len == 0 || line[0] == '#')
			continue;
		if (n == TLS_STEK_MAX_KEYS) {
			tls_set_err(err, errlen, "%s:%d: more than %d keys", path, lineno,
				TLS_STEK_MAX_KEYS);
			return -1;
		}
		const char *why = parse_key_line(line, line_len, &keys[n]);
		if (why) {
			tls_set_err(err, errlen, "%s:%d: %s", path, lineno, why);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (memcmp(keys[i].id, keys[n].id, TLS_STEK_ID_LEN) == 0) {
				tls_set_err(err, errlen, "%s:%d: duplicate key id", path, lineno);
				return -1;
			}
		}
		n++;
	}
	if (n == 0) {
		tls_set_err(err, errlen, "%s: no keys in file", path);
		return -1;
	}
	return (int)n;
}

/* Reads a private regular file of at most TLS_STEK_FILE_MAX bytes into
 * buf (which has room for that); returns its length or -1 with err set. */
static ssize_t read_private_file(const char *path, uint8_t *buf, char *err, size_t errlen)
{
	/* O_NONBLOCK: a FIFO put in place of the file must not hang the loop. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	ssize_t total = -1;
	if (fstat(fd, &st) != 0) {
		tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		tls_set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & 077) {
		tls_set_err(err, errlen,
			"%s: ticket key file is accessible by group or others (mode %04o); "
			"refusing it: chmod 600 it",
			path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size > TLS_STEK_FILE_MAX) {
		tls_set_err(err, errlen, "%s: larger than %d bytes", path, TLS_STEK_FILE_MAX);
		goto out;
	}
	size_t got = 0;
	for (;;) {
		ssize_t r = read(fd, buf + got, TLS_STEK_FILE_MAX + 1 - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			tls_set_err(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got > TLS_STEK_FILE_MAX) {
			tls_set_err(err, errlen, "%s: larger than %d bytes", path, TLS_STEK_FILE_MAX);
			goto out;
		}
	}
	total = (ssize_t)got;
out:
	close(fd);
	return total;
}

int tls_stek_ring_load(tls_stek_ring *ring, const char *path, char *err, size_t errlen)
{
	/* the file's text is wiped right after parsing; the parsed keys go
	 * where the ring is */
	uint8_t *buf = malloc(TLS_STEK_FILE_MAX + 1);
	tls_stek *keys = OPENSSL_secure_zalloc(TLS_STEK_MAX_KEYS * sizeof(tls_stek));
	int rc = -1;
	if (!buf || !keys) {
		tls_set_err(err, errlen, "%s: out of memory", path);
		goto out;
	}
	ssize_t len = read_private_file(path, buf, err, errlen);
	if (len < 0)
		goto out;
	int n = parse_key_file(buf, (size_t)len, keys, path, err, errlen);
	OPENSSL_cleanse(buf, (size_t)len);
	if (n < 0)
		goto out;
	wrlock(ring);
	OPENSSL_cleanse(ring->keys, sizeof(ring->keys));
	memcpy(ring->keys, keys, (size_t)n * sizeof(tls_stek));
	ring->n = (size_t)n;
	ring->from_file = true;
	unlock(ring);
	rc = 0;
out:
	if (keys)
		OPENSSL_secure_clear_free(keys, TLS_STEK_MAX_KEYS * sizeof(tls_stek));
	free(buf);
	return rc;
}

static void write_hex(tls_buf *b, const uint8_t *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		tls_write_u8(b, (uint8_t)digits[p[i] >> 4]);
		tls_write_u8(b, (uint8_t)digits[p[i] & 15]);
	}
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Makes the rename/link durable; failure only loses durability on a crash
 * right now, the file itself is already complete, so it is not reported. */
static void sync_parent_dir(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	if (!slash) {
		snprintf(dir, sizeof(dir), ".");
	} else if (slash == path) {
		snprintf(dir, sizeof(dir), "/");
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(dir))
			return;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int tls_stek_ring_save(const tls_stek_ring *ring, const char *path, int flags,
		       char *err, size_t errlen)
{
	if (ring->n == 0) {
		tls_set_err(err, errlen, "%s: no keys to write", path);
		return -1;
	}
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= sizeof(tmp)) {
		tls_set_err(err, errlen, "%s: path too long", path);
		return -1;
	}

	tls_buf text;
	tls_buf_init(&text, TLS_STEK_FILE_MAX);
	static const char head[] =
		"# handshaked session ticket keys, format v1 (docs/ticket-keys.md).\n"
		"# First key line = current key (seals); the others still open tickets.\n"
		"# v1 <key id> <AES-256-GCM key> <created, unix seconds>\n";
	tls_write_bytes(&text, head, sizeof(head) - 1);
	for (size_t i = 0; i < ring->n; i++) {
		char created[24];
		int cl = snprintf(created, sizeof(created), "%llu",
				  (unsigned long long)ring->keys[i].created);
		tls_write_bytes(&text, "v1 ", 3);
		write_hex(&text, ring->keys[i].id, TLS_STEK_ID_LEN);
		tls_write_u8(&text, ' ');
		write_hex(&text, ring->keys[i].key, TLS_STEK_KEY_LEN);
		tls_write_u8(&text, ' ');
		tls_write_bytes(&text, created, (size_t)cl);
		tls_write_u8(&text, '\n');
	}
	if (text.err) {
		tls_set_err(err, errlen, "%s: out of memory", path);
		tls_buf_free(&text);
		return -1;
	}

	int rc = -1;
	int fd = mkstemp(tmp); /* creates with mode 0600 */
	if (fd < 0) {
		tls_set_err(err, errlen, "%s: cannot create a temporary file: %s", tmp, strerror(errno));
		tls_buf_free(&text);
		return -1;
	}
	if (fchmod(fd, 0600) != 0 || write_all(fd, text.base, text.len) != 0 || fsync(fd) != 0) {
		tls_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		close(fd);
		goto out;
	}
	if (close(fd) != 0) {
		tls_set_err(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	if (flags & TLS_STEK_SAVE_EXCL) {
		/* link() fails if path exists: exclusive and atomic. */
		if (link(tmp, path) != 0) {
			tls_set_err(err, errlen, "%s: %s", path,
				errno == EEXIST ? "already exists" : strerror(errno));
			goto out;
		}
	} else if (rename(tmp, path) != 0) {
		tls_set_err(err, errlen, "%s: cannot replace: %s", path, strerror(errno));
		goto out;
	}
	sync_parent_dir(path);
	rc = 0;
out:
	/* After a successful rename the temporary name is gone already. */
	if (rc != 0 || (flags & TLS_STEK_SAVE_EXCL))
		unlink(tmp);
	tls_buf_free(&text);
	return rc;
}
