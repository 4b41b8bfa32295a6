/* Running as an unprivileged user (--user, [daemon] user): the daemon
 * starts as root to read the keys, bind its sockets and join the kernel's
 * upcall, then becomes that user, keeping CAP_NET_ADMIN alone and only
 * when the upcall is on (every ACCEPT needs it). Daemon-internal. */
#ifndef HANDSHAKED_PRIVS_H
#define HANDSHAKED_PRIVS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon;

/* Main thread, once the sockets are bound and the rings made, before any
 * other thread starts: nothing to do without [daemon] user; else gives
 * the sockets to the user, keeps the upcall's keyrings and drops
 * (privs_drop), and d->self_uid becomes the user's. 0, or -1 logged. */
int privs_enter(struct daemon *d);

/* Becomes uid/gid (user's supplementary groups from initgroups), with
 * CAP_NET_ADMIN permitted and effective when keep_net_admin and no other
 * capability (bounding and ambient sets emptied too); then checks that
 * root cannot be regained. One thread only. 0, or -1 with err. */
int privs_drop(const char *user, uid_t uid, gid_t gid, bool keep_net_admin, char *err, size_t len);

/* unlink(2) of one of our socket files at exit; after the drop the
 * directory may not be ours to write: said once, and the next start
 * replaces the stale file. */
void privs_unlink(const char *path);

#endif
