/* keyctl(2) directly: libkeyutils is a thin wrapper over the same calls
 * and one more dependency. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/keyctl.h>
#include <openssl/crypto.h>

#include <handshake/tls.h>

#include "keyring.h"

static long keyctl(int op, unsigned long a, unsigned long b, unsigned long c, unsigned long d)
{
	return syscall(SYS_keyctl, op, a, b, c, d);
}

key_serial keyring_by_name(const char *name)
{
	FILE *f = fopen("/proc/keys", "re");
	char line[512];
	key_serial found = 0;
	size_t nlen = strlen(name);

	if (!f)
		return 0;
	/* "%08x %s %5d %4s %08x %5d %5d %-9.9s %s: ..." : serial, flags,
	 * usage, expiry, perm, uid, gid, type, description */
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned serial;
		char type[16];
		int off = 0;

		if (sscanf(line, "%x %*s %*d %*s %*x %*d %*d %15s %n", &serial, type, &off) != 2 || !off)
			continue;
		if (strcmp(type, "keyring") == 0 && strncmp(line + off, name, nlen) == 0 &&
		    line[off + nlen] == ':')
			found = (key_serial)serial;
	}
	fclose(f);
	return found;
}

int keyring_link(key_serial ring)
{
	return keyctl(KEYCTL_LINK, (unsigned long)ring, (unsigned long)KEY_SPEC_PROCESS_KEYRING, 0, 0) < 0 ? -1 : 0;
}

int keyring_describe(key_serial key, char *type, size_t type_len, char *desc, size_t desc_len)
{
	char buf[1024], *semi, *last;
	long n = keyctl(KEYCTL_DESCRIBE, (unsigned long)key, (unsigned long)buf, sizeof(buf), 0);

	if (n < 0)
		return -1;
	if ((size_t)n > sizeof(buf) || n == 0 || buf[n - 1] != '\0') {
		errno = EMSGSIZE;
		return -1;
	}
	/* "type;uid;gid;perm;description": the description may hold ';' */
	if (!(semi = strchr(buf, ';'))) {
		errno = EINVAL;
		return -1;
	}
	last = semi;
	for (int i = 0; i < 3 && last; i++)
		last = strchr(last + 1, ';');
	if (!last) {
		errno = EINVAL;
		return -1;
	}
	*semi = '\0';
	if (strlen(buf) >= type_len || strlen(last + 1) >= desc_len) {
		errno = EMSGSIZE;
		return -1;
	}
	strcpy(type, buf);
	strcpy(desc, last + 1);
	return 0;
}

ssize_t keyring_read(key_serial key, uint8_t *buf, size_t len)
{
	long n = keyctl(KEYCTL_READ, (unsigned long)key, (unsigned long)buf, len, 0);

	if (n < 0)
		return -1;
	if ((size_t)n > len) {
		OPENSSL_cleanse(buf, len);
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

key_serial keyring_search(key_serial ring, const char *type, const char *desc)
{
	long r = keyctl(KEYCTL_SEARCH, (unsigned long)ring, (unsigned long)type, (unsigned long)desc, 0);

	if (r >= 0)
		return (key_serial)r;
	return errno == ENOKEY || errno == EKEYREVOKED || errno == EKEYEXPIRED ? 0 : -1;
}

uint16_t keyring_psk_cipher(const char *identity, size_t key_len)
{
	/* NVMe<version digit><R|G><two digits> */
	if (strncmp(identity, "NVMe", 4) == 0 && identity[4] >= '0' && identity[4] <= '9' &&
	    (identity[5] == 'R' || identity[5] == 'G') && identity[6] == '0' &&
	    (identity[7] == '1' || identity[7] == '2') && (identity[8] == ' ' || identity[8] == '\0'))
		return identity[7] == '1' ? TLS_AES_128_GCM_SHA256 : TLS_AES_256_GCM_SHA384;
	if (key_len == 32)
		return TLS_AES_128_GCM_SHA256;
	if (key_len == 48)
		return TLS_AES_256_GCM_SHA384;
	return 0;
}
