/* [metrics] listen addresses (metrics.h): numeric only, so that reading
 * the config never waits for DNS and the address is exactly what the
 * operator wrote. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "metrics.h"

static int port_of(const char *p, uint16_t *port)
{
	char *end;
	unsigned long n;

	if (*p < '0' || *p > '9')
		return -1;
	errno = 0;
	n = strtoul(p, &end, 10);
	if (errno || *end || n == 0 || n > 65535)
		return -1;
	*port = htons((uint16_t)n);
	return 0;
}

int metrics_addr_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *all = s;
	size_t hl;
	uint16_t port;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(s, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;
		if (s[5] != '/' || strlen(s + 5) >= sizeof(sun->sun_path)) {
			snprintf(err, errlen, "'%s': unix: needs an absolute path shorter than %zu bytes", s,
				 sizeof(sun->sun_path));
			return -1;
		}
		sun->sun_family = AF_UNIX;
		snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", s + 5);
		*len = sizeof(*sun);
		return 0;
	}
	if (*s == '[') {               /* [v6]:port */
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			goto bad;
		hl = (size_t)(close - s - 1);
		colon = close + 1;
		s++;
	} else {
		if (!(colon = strrchr(s, ':')))
			goto bad;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= sizeof(host) || port_of(colon + 1, &port) != 0)
		goto bad;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = port;
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = port;
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
bad:
	snprintf(err, errlen, "'%s' is not ADDRESS:PORT (numeric: 127.0.0.1:9470, [::1]:9470) or unix:PATH", all);
	return -1;
}
