/* Dropping root once the privileged work is done (privs.h). What needs
 * root happens before: reading the keys and certificates, binding the
 * handoff and control sockets, joining the upcall's netlink group (the
 * loops' sockets are open by then). What the daemon still does afterwards
 * as the user: reloads (SIGHUP reads the files again, so they must be
 * readable by the user, e.g. through Debian's ssl-cert group), and with
 * the upcall, ACCEPT (CAP_NET_ADMIN, kept) and keyctl on keyrings it
 * possesses (upcall_keep_keyrings). Capabilities through the raw
 * syscalls, as upcall.c reads them: no libcap. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <fcntl.h>
#include <linux/capability.h>

#include "daemon.h"
#include "log.h"
#include "privs.h"

#define CAP_WORDS _LINUX_CAPABILITY_U32S_3

static int capget_self(struct __user_cap_data_struct data[CAP_WORDS])
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	return (int)syscall(SYS_capget, &h, data);
}

/* Exactly CAP_NET_ADMIN (or nothing) permitted and effective. */
static int set_caps(bool net_admin)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[CAP_WORDS];

	memset(data, 0, sizeof(data));
	if (net_admin) {
		data[CAP_TO_INDEX(CAP_NET_ADMIN)].permitted = CAP_TO_MASK(CAP_NET_ADMIN);
		data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective = CAP_TO_MASK(CAP_NET_ADMIN);
	}
	return (int)syscall(SYS_capset, &h, data);
}

/* After the drop: the ids are the user's everywhere, root does not come
 * back, and the capabilities are what we asked for. */
static int verify(uid_t uid, gid_t gid, bool net_admin, char *err, size_t len)
{
	struct __user_cap_data_struct data[CAP_WORDS];
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0 || ru != uid || eu != uid ||
	    su != uid || rg != gid || eg != gid || sg != gid) {
		snprintf(err, len, "the user and group ids are not all %u and %u after the change", (unsigned)uid,
			 (unsigned)gid);
		return -1;
	}
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
		snprintf(err, len, "root could be regained after the change");
		return -1;
	}
	if (capget_self(data) != 0) {
		snprintf(err, len, "reading our capabilities: %s", strerror(errno));
		return -1;
	}
	for (int i = 0; i < CAP_WORDS; i++) {
		uint32_t want = net_admin && i == CAP_TO_INDEX(CAP_NET_ADMIN) ? CAP_TO_MASK(CAP_NET_ADMIN) : 0;
		if (data[i].permitted != want || data[i].effective != want || data[i].inheritable) {
			snprintf(err, len, "capabilities left after the change: permitted %08x effective %08x "
				 "inheritable %08x (word %d)", data[i].permitted, data[i].effective,
				 data[i].inheritable, i);
			return -1;
		}
	}
	return 0;
}

int privs_drop(const char *user, uid_t uid, gid_t gid, bool keep_net_admin, char *err, size_t len)
{
	/* capabilities would not survive the uid change without it */
	if (keep_net_admin && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) {
		snprintf(err, len, "prctl(PR_SET_KEEPCAPS): %s", strerror(errno));
		return -1;
	}
	/* nothing to gain back through exec either (we never exec, and
	 * no_new_privs follows); without CAP_SETPCAP (a systemd unit's
	 * CapabilityBoundingSet) the bounding set stays as the unit made it */
	for (int cap = 0; cap < 64; cap++)
		if ((!keep_net_admin || cap != CAP_NET_ADMIN) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
			if (errno == EINVAL || errno == EPERM)  /* past the last capability; no CAP_SETPCAP */
				break;
			snprintf(err, len, "prctl(PR_CAPBSET_DROP, %d): %s", cap, strerror(errno));
			return -1;
		}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);  /* EINVAL before Linux 4.3: none */
	if (initgroups(user, gid) != 0) {
		snprintf(err, len, "initgroups(%s): %s", user, strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) {
		snprintf(err, len, "becoming uid %u gid %u: %s", (unsigned)uid, (unsigned)gid, strerror(errno));
		return -1;
	}
	if (set_caps(keep_net_admin) != 0) {
		snprintf(err, len, "capset: %s", strerror(errno));
		return -1;
	}
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		snprintf(err, len, "prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -1;
	}
	return verify(uid, gid, keep_net_admin, err, len);
}

/* The socket file we bound, to the user: the handoff socket keeps its
 * [handoff] mode (its group, the user's, may connect), the control
 * socket its 0600. Not through a symlink put in its place. */
static int give(const char *what, const char *path, uid_t uid, gid_t gid)
{
	if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	log_ev(LOG_ERR, "privs_failed", "socket=%s path=%s uid=%u gid=%u error=%s", what, log_q(path), (unsigned)uid,
	       (unsigned)gid, log_q(strerror(errno)));
	return -1;
}

int privs_enter(struct daemon *d)
{
	const struct dconfig *c = &d->cfg;
	struct passwd *pw;
	struct group *gr = NULL;
	char err[512];
	uid_t uid;
	gid_t gid;

	if (!c->user)
		return 0;
	/* the names were checked when the configuration was read */
	if (!(pw = getpwnam(c->user)) || (c->group && !(gr = getgrnam(c->group)))) {
		log_ev(LOG_ERR, "privs_failed", "user=%s group=%s text=\"not found\"", log_q(c->user), log_q(c->group));
		return -1;
	}
	uid = pw->pw_uid;
	gid = gr ? gr->gr_gid : pw->pw_gid;
	if (uid == 0) {
		log_ev(LOG_ERR, "privs_failed", "user=%s text=\"[daemon] user is root: name an unprivileged user, or none\"",
		       log_q(c->user));
		return -1;
	}
	if (geteuid() != 0) {
		if (getuid() == uid && geteuid() == uid && getgid() == gid) {
			log_ev(LOG_INFO, "privs_dropped", "user=%s uid=%u gid=%u text=\"running as the user already\"",
			       log_q(c->user), (unsigned)uid, (unsigned)gid);
			d->self_uid = uid;
			return 0;
		}
		log_ev(LOG_ERR, "privs_failed", "user=%s euid=%u text=\"changing user needs a start as root\"",
		       log_q(c->user), (unsigned)geteuid());
		return -1;
	}
	if ((d->listen_fd >= 0 && !d->listen_passed && give("handoff socket", c->handoff_path, uid, gid) != 0) ||
	    (d->ctl_fd >= 0 && give("control socket", c->control_path, uid, gid) != 0))
		return -1;
	/* the upcall's keyrings stay ours: upcall.c linked them into our
	 * process keyring at start, which the uid change keeps */
	if (privs_drop(c->user, uid, gid, d->upcall != NULL, err, sizeof(err)) != 0) {
		log_ev(LOG_ERR, "privs_failed", "user=%s text=%s", log_q(c->user), log_q(err));
		return -1;
	}
	d->self_uid = uid;
	log_ev(LOG_INFO, "privs_dropped", "user=%s uid=%u gid=%u capabilities=%s", log_q(c->user), (unsigned)uid,
	       (unsigned)gid, d->upcall ? "cap_net_admin" : "none");
	return 0;
}

void privs_unlink(const char *path)
{
	if (unlink(path) == 0 || errno == ENOENT)
		return;
	if (errno == EACCES || errno == EPERM)
		log_ev(LOG_INFO, "socket_left", "path=%s text=\"its directory is not writable by our user; the next "
		       "start replaces it\"", log_q(path));
	else
		log_ev(LOG_WARN, "socket_left", "path=%s error=%s", log_q(path), log_q(strerror(errno)));
}
