/* One line per event on stderr (journald adds the time and the unit), in
 * logfmt after an sd-daemon(3) priority prefix:
 *
 *   <6>handshaked: event=handshake_ok role=server via=handoff peer=1.2.3.4:5 ... ms=3.1
 *
 * event= is always first and names a fixed kind of line; the rest are
 * key=value pairs. Values that may hold blanks, quotes or anything a peer
 * chose (SNI, texts, paths) go through log_q. */
#ifndef HANDSHAKED_LOG_H
#define HANDSHAKED_LOG_H

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

/* Lines above this level are dropped; default LOG_INFO. */
void log_set_level(enum log_level level);
/* "error", "warn", "info", "debug" -> level; -1 when unknown. */
int log_level_parse(const char *name);

/* "<N>handshaked: event=EVENT " then fmt, which writes key=value pairs
 * (event: [a-z0-9_]+). */
__attribute__((format(printf, 3, 4))) void log_ev(enum log_level level, const char *event, const char *fmt, ...);

/* v as a logfmt value: as is when it is a non-empty run of safe bytes,
 * else in double quotes with \" \\ \n \t and \xHH escapes; NULL is "-".
 * Long values (over 1 KiB) are cut, ending in "...". The result lives in one of
 * LOG_Q_SLOTS per-thread buffers, reused in turn: at most that many
 * log_q results per log_ev call. */
#define LOG_Q_SLOTS 8
const char *log_q(const char *v);

/* Free text for code not converted to log_ev yet: event=message text="...". */
__attribute__((format(printf, 2, 3))) void log_msg(enum log_level level, const char *fmt, ...);

#endif
