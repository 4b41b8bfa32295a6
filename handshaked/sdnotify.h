/* systemd integration: readiness, reload and stop notifications, status
 * lines, the watchdog (sd_notify(3)) and socket activation of the handoff
 * socket (sd_listen_fds(3)). With libsystemd at build time
 * (HAVE_LIBSYSTEMD); without it every call does nothing. Called from the
 * main thread only (startup, then the supervisor). */
#ifndef HANDSHAKED_SDNOTIFY_H
#define HANDSHAKED_SDNOTIFY_H

struct daemon;

/* Once, after the log level is set: reads NOTIFY_SOCKET, WATCHDOG_USEC. */
void sdnotify_init(void);
/* The listening SOCK_SEQPACKET Unix socket passed by socket activation
 * (LISTEN_FDS/LISTEN_PID), or -1; other passed fds are closed. Once. */
int sdnotify_listen_fd(void);
/* The supervisor calls this on every turn: READY=1 once every loop has
 * answered a wake (the rings run), then WATCHDOG=1 every half interval
 * while every loop still answers, and STATUS= now and then. Returns the
 * milliseconds until it wants to run again, -1: no need. */
int sdnotify_tick(struct daemon *d);
/* Around a reload: RELOADING=1, then READY=1 (err: why it failed, or NULL). */
void sdnotify_reloading(void);
void sdnotify_reloaded(struct daemon *d, const char *err);
/* STOPPING=1, once. */
void sdnotify_stopping(struct daemon *d);

#endif
