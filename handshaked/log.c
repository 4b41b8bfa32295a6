/* Logging (log.h): stderr, one logfmt line per event, prefixed with an
 * sd-daemon(3) priority ("<3>") so journald files each line under its
 * level. Values a peer chose are quoted and escaped by log_q, so a line
 * never breaks in two and no value can forge another key. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

#define LINE_MAX_LEN 8192
#define Q_MAX 1024                 /* one log_q value, quotes and escapes included */

static enum log_level max_level = LOG_INFO;

static const struct {
	const char *name;
	int prio;                  /* syslog priority for the <N> prefix */
} levels[] = {
	[LOG_ERR] = { "error", 3 },
	[LOG_WARN] = { "warn", 4 },
	[LOG_INFO] = { "info", 6 },
	[LOG_DEBUG] = { "debug", 7 },
};

/* set by a reload while the loops log: relaxed atomics, no torn reads */
void log_set_level(enum log_level level)
{
	__atomic_store_n(&max_level, level, __ATOMIC_RELAXED);
}

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
		if (strcmp(name, levels[i].name) == 0)
			return (int)i;
	return -1;
}

static int safe(unsigned char c)
{
	return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != '=';
}

const char *log_q(const char *v)
{
	static __thread char slot[LOG_Q_SLOTS][Q_MAX + 1];
	static __thread unsigned next;
	char *out = slot[next++ % LOG_Q_SLOTS];
	size_t n = 0, i;

	if (!v)
		return "-";
	for (i = 0; v[i] && safe((unsigned char)v[i]); i++)
		;
	if (i && !v[i] && i <= Q_MAX)
		return v;
	out[n++] = '"';
	for (i = 0; v[i]; i++) {
		unsigned char c = (unsigned char)v[i];
		char e[5];
		size_t el;

		if (c == '"' || c == '\\')
			el = (size_t)snprintf(e, sizeof(e), "\\%c", c);
		else if (c == '\n')
			el = (size_t)snprintf(e, sizeof(e), "\\n");
		else if (c == '\t')
			el = (size_t)snprintf(e, sizeof(e), "\\t");
		else if (c < ' ' || c >= 0x7f)  /* peers' bytes: ASCII out, always */
			el = (size_t)snprintf(e, sizeof(e), "\\x%02x", c);
		else {
			e[0] = (char)c;
			el = 1;
		}
		if (n + el > Q_MAX - 4) {      /* room for ...", and the NUL */
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		memcpy(out + n, e, el);
		n += el;
	}
	out[n++] = '"';
	out[n] = '\0';
	return out;
}

static void emit(enum log_level level, const char *line)
{
	/* one fprintf: lines from one process never interleave mid-line */
	fprintf(stderr, "<%d>handshaked: %s\n", levels[level].prio, line);
}

static int enabled(enum log_level level)
{
	return level <= __atomic_load_n(&max_level, __ATOMIC_RELAXED);
}

void log_ev(enum log_level level, const char *event, const char *fmt, ...)
{
	char line[LINE_MAX_LEN];
	va_list ap;
	int n;

	if (!enabled(level))
		return;
	n = snprintf(line, sizeof(line), "event=%s%s", event, *fmt ? " " : "");
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	emit(level, line);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	if (!enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_ev(level, "message", "text=%s", log_q(text));
}
