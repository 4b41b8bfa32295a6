/* One line per event on stderr (journald adds the time and the unit). */
#ifndef HANDSHAKED_LOG_H
#define HANDSHAKED_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Lines above this level are dropped; default LOG_INFO. */
void log_set_level(enum log_level level);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *name);
__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);

#endif
