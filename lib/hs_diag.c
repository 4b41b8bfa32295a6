/* hs_info_refresh: who encrypts each direction, from the kernel's
 * sock_diag (lib/ktls_diag.c, raw netlink). On demand rather than in
 * hs_info(): one netlink round trip per call, which most applications
 * never need, and hs_info() stays free of system calls. */
#include <errno.h>
#include <string.h>

#include "hs_conn.h"
#include "ktls.h"

static enum hs_offload offload_of(uint16_t conf)
{
	switch (conf) {
	case TLS_CONF_BASE:
		return HS_OFFLOAD_NONE;
	case TLS_CONF_SW:
		return HS_OFFLOAD_SOFTWARE;
	case TLS_CONF_HW:
		return HS_OFFLOAD_HARDWARE;
	case TLS_CONF_HW_RECORD:
		return HS_OFFLOAD_HARDWARE_RECORD;
	}
	return HS_OFFLOAD_UNKNOWN;
}

int hs_info_refresh(hs_conn *c)
{
	struct ktls_diag d;
	enum ktls_err e;
	char t[160];

	if (!c)
		return hs_fail(NULL, HS_R_INVALID, EINVAL, "NULL");
	c->info.offload_tx = c->info.offload_rx = HS_OFFLOAD_UNKNOWN;
	e = ktls_diag_get(c->fd, &d);
	if (e != KTLS_OK) {
		int err = errno ? errno : (e == KTLS_E_DIAG_NO_ULP ? EPERM : EIO);
		return hs_fail(&c->err, HS_R_SYSTEM, err, "offload state over sock_diag: %s",
			       ktls_error_text(e, errno, t, sizeof(t)));
	}
	if (!d.has_tls || strcmp(d.ulp, "tls") != 0)
		return hs_fail(&c->err, HS_R_SYSTEM, ENOPROTOOPT, "sock_diag: the socket's ULP is \"%s\", not tls",
			       d.ulp);
	c->info.offload_tx = offload_of(d.txconf);
	c->info.offload_rx = offload_of(d.rxconf);
	return 0;
}
