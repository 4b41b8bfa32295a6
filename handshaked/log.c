/* Logging: stderr, one line per event, prefixed with an sd-daemon(3)
 * priority ("<3>") so journald files each line under its level. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

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

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (level > __atomic_load_n(&max_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* one fprintf: lines from one process never interleave mid-line */
	fprintf(stderr, "<%d>handshaked: %s: %s\n", levels[level].prio, levels[level].name, line);
}
