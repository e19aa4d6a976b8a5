/*
 * dns.c - DNS through libunbound: TXT (CNAMEs followed by the resolver),
 * MX, A, AAAA, TLSA.  Answers tell NXDOMAIN, NODATA, SERVFAIL and timeout
 * apart and carry the DNSSEC state.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

#include "dns.h"
#include "domain.h"
#include "error.h"

struct query {
	struct dns *dns;
	int async_id;
	int rrtype;
	int64_t deadline_ms;
	dns_done done;
	void *arg;
	struct query *next;
	char name[MTASTS_DOMAIN_MAX + 16];
};

struct dns {
	struct ub_ctx *ub;
	struct query *pending;
	size_t npending;
};

static int
ub_option(struct ub_ctx *ub, const char *opt, const char *val,
    struct mtasts_error *err)
{
	int rc = ub_ctx_set_option(ub, opt, val);

	if (rc != 0)
		mtasts_error_set(err, MTASTS_ERR_CONFIG,
		    "resolver option %s %s: %s", opt, val, ub_strerror(rc));
	return rc;
}

static int
configure(struct ub_ctx *ub, const struct mtasts_config *cfg,
    struct mtasts_error *err)
{
	int rc = 0;

	switch (cfg->resolver) {
	case RESOLVER_SYSTEM:
		if ((rc = ub_ctx_resolvconf(ub, NULL)) != 0) {
			mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "resolver system: /etc/resolv.conf: %s",
			    ub_strerror(rc));
			return -1;
		}
		ub_ctx_hosts(ub, NULL); /* no /etc/hosts is not an error */
		break;
	case RESOLVER_FORWARD:
		if ((rc = ub_ctx_set_fwd(ub, cfg->forwarder)) != 0) {
			mtasts_error_set(err, MTASTS_ERR_CONFIG,
			    "resolver %s: %s", cfg->forwarder, ub_strerror(rc));
			return -1;
		}
		break;
	case RESOLVER_RECURSIVE:
		break;
	}
	/* a local forwarder (systemd-resolved, a test server, a validating
	 * unbound on 127.0.0.1) is normal for a mail host */
	if (ub_option(ub, "do-not-query-localhost:", "no", err) != 0)
		return -1;
	/* without a trust anchor nothing can be validated: the validator
	 * module would only cost CPU (every answer is "insecure" either way) */
	if (cfg->trust_anchor == NULL &&
	    ub_option(ub, "module-config:", "iterator", err) != 0)
		return -1;
	if (cfg->trust_anchor != NULL &&
	    (rc = ub_ctx_add_ta_file(ub, cfg->trust_anchor)) != 0) {
		mtasts_error_set(err, MTASTS_ERR_CONFIG, "trust_anchor %s: %s",
		    cfg->trust_anchor, ub_strerror(rc));
		return -1;
	}
	/* a thread, not a forked process: safe in any host program */
	if ((rc = ub_ctx_async(ub, 1)) != 0) {
		mtasts_error_set(
		    err, MTASTS_ERR_INTERNAL, "resolver: %s", ub_strerror(rc));
		return -1;
	}
	return 0;
}

struct dns *
dns_new(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	struct dns *dns = calloc(1, sizeof(*dns));

	if (dns == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	if ((dns->ub = ub_ctx_create()) == NULL) {
		free(dns);
		mtasts_error_set(
		    err, MTASTS_ERR_INTERNAL, "could not create the resolver");
		return NULL;
	}
	if (configure(dns->ub, cfg, err) != 0) {
		dns_free(dns);
		return NULL;
	}
	return dns;
}

void
dns_free(struct dns *dns)
{
	struct query *q, *next;

	if (dns == NULL)
		return;
	for (q = dns->pending; q != NULL; q = next) {
		next = q->next;
		ub_cancel(dns->ub, q->async_id);
		free(q);
	}
	ub_ctx_delete(dns->ub);
	free(dns);
}

void
dns_answer_free(struct dns_answer *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < a->count; i++)
		free(a->data[i]);
	free(a->data);
	free(a->len);
	free(a->pref);
	free(a);
}

/*
 * Wire-format name (RFC 1035 §3.1) at rd[*pos..len) to dotted text.  A
 * host name's labels hold letters, digits, '-' (RFC 952, RFC 1123 §2.1)
 * and, in service names, '_': any other byte (a '.', a control byte) would
 * make the text mean another name or break the line it is written on.
 */
static bool
is_host_label(const unsigned char *label, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!isalnum(label[i]) && label[i] != '-' && label[i] != '_')
			return false;
	return true;
}

int
dns_decode_name(
    const unsigned char *rd, size_t len, size_t pos, char *out, size_t outlen)
{
	size_t o = 0;

	while (pos < len && rd[pos] != 0) {
		size_t l = rd[pos++];

		/* compression pointers do not occur in libunbound's rdata */
		if (l > 63 || pos + l > len || o + l + 2 > outlen ||
		    !is_host_label(rd + pos, l))
			return -1;
		memcpy(out + o, rd + pos, l);
		o += l;
		out[o++] = '.';
		pos += l;
	}
	if (pos >= len)
		return -1;
	if (o > 0)
		o--; /* no trailing dot */
	out[o] = '\0';
	return 0;
}

/* One rdata to the text this module hands out; -1 when malformed. */
static int
decode_rdata(
    struct dns_answer *a, size_t i, const unsigned char *rd, size_t len)
{
	char buf[INET6_ADDRSTRLEN + 256];
	size_t n = 0, pos = 0;

	switch (a->rrtype) {
	case DNS_TYPE_TXT:
		/* RFC 1035 §3.3.14: <character-string>s, joined */
		if ((a->data[i] = malloc(len + 1)) == NULL)
			return -1;
		while (pos < len) {
			size_t l = rd[pos++];

			if (pos + l > len)
				return -1;
			memcpy(a->data[i] + n, rd + pos, l);
			n += l;
			pos += l;
		}
		a->data[i][n] = '\0';
		a->len[i] = n;
		return 0;
	case DNS_TYPE_MX:
		if (len < 3 ||
		    dns_decode_name(rd, len, 2, buf, sizeof(buf)) != 0)
			return -1;
		a->pref[i] = (uint16_t)(rd[0] << 8 | rd[1]);
		break;
	case DNS_TYPE_CNAME:
		if (dns_decode_name(rd, len, 0, buf, sizeof(buf)) != 0)
			return -1;
		break;
	case DNS_TYPE_A:
	case DNS_TYPE_AAAA:
		if (len != (a->rrtype == DNS_TYPE_A ? 4u : 16u) ||
		    inet_ntop(a->rrtype == DNS_TYPE_A ? AF_INET : AF_INET6, rd,
		        buf, sizeof(buf)) == NULL)
			return -1;
		break;
	default:
		if ((a->data[i] = malloc(len + 1)) == NULL)
			return -1;
		memcpy(a->data[i], rd, len);
		a->data[i][len] = '\0';
		a->len[i] = len;
		return 0;
	}
	a->len[i] = strlen(buf);
	return (a->data[i] = strdup(buf)) == NULL ? -1 : 0;
}

static const char *
rcode_name(int rcode)
{
	switch (rcode) {
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	}
	return "an error";
}

static struct dns_answer *
answer_from(int rrtype, const char *name, int ub_err, struct ub_result *r)
{
	struct dns_answer *a = calloc(1, sizeof(*a));
	size_t i, n = 0;

	if (a == NULL)
		return NULL;
	a->rrtype = rrtype;
	if (ub_err != 0) {
		/* libunbound's own failure (memory, a socket, its pipe): this
		 * host's, no answer about the name */
		a->code = ub_err == UB_NOMEM ? MTASTS_ERR_NOMEM
		                             : MTASTS_ERR_INTERNAL;
		snprintf(a->message, sizeof(a->message), "%s: resolver: %s",
		    name, ub_strerror(ub_err));
		return a;
	}
	a->dnssec = r->bogus ? MTASTS_DNSSEC_BOGUS
	    : r->secure      ? MTASTS_DNSSEC_SECURE
	                     : MTASTS_DNSSEC_INSECURE;
	if (r->bogus) {
		a->code = MTASTS_ERR_DNS;
		snprintf(a->message, sizeof(a->message),
		    "%s: DNSSEC validation failed: %s", name,
		    r->why_bogus != NULL ? r->why_bogus : "bogus");
		return a;
	}
	if (r->rcode == 3 || r->nxdomain) {
		a->code = MTASTS_ERR_DNS_NXDOMAIN;
		snprintf(a->message, sizeof(a->message),
		    "%s does not exist (NXDOMAIN)", name);
		return a;
	}
	if (r->rcode != 0) {
		a->code = MTASTS_ERR_DNS;
		snprintf(a->message, sizeof(a->message),
		    "%s: the resolver answered %s", name, rcode_name(r->rcode));
		return a;
	}
	while (r->havedata && r->data[n] != NULL)
		n++;
	if (n == 0) {
		a->code = MTASTS_ERR_DNS_NODATA;
		snprintf(a->message, sizeof(a->message),
		    "%s has no record of that type", name);
		return a;
	}
	a->data = calloc(n, sizeof(*a->data));
	a->len = calloc(n, sizeof(*a->len));
	a->pref = calloc(n, sizeof(*a->pref));
	if (a->data == NULL || a->len == NULL || a->pref == NULL) {
		a->count = 0;
		a->code = MTASTS_ERR_NOMEM;
		snprintf(a->message, sizeof(a->message), "out of memory");
		return a;
	}
	for (i = 0; i < n; i++) {
		a->count = i + 1;
		if (decode_rdata(a, i, (const unsigned char *)r->data[i],
		        (size_t)r->len[i]) != 0) {
			a->code = MTASTS_ERR_DNS;
			snprintf(a->message, sizeof(a->message),
			    "%s: malformed record in the answer", name);
			return a;
		}
	}
	return a;
}

static void
unlink_query(struct dns *dns, struct query *q)
{
	struct query **pp;

	for (pp = &dns->pending; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			dns->npending--;
			return;
		}
	}
}

static void
finish(struct query *q, struct dns_answer *a)
{
	dns_done done = q->done;
	void *arg = q->arg;

	unlink_query(q->dns, q);
	free(q);
	done(arg, a);
}

static void
on_result(void *arg, int err, struct ub_result *result)
{
	struct query *q = arg;
	finish(q, answer_from(q->rrtype, q->name, err, result));
	if (result != NULL)
		ub_resolve_free(result);
}

static struct dns_answer *answer_error(int rrtype, mtasts_code code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static struct dns_answer *
answer_error(int rrtype, mtasts_code code, const char *fmt, ...)
{
	struct dns_answer *a = calloc(1, sizeof(*a));
	va_list ap;

	if (a != NULL) {
		a->rrtype = rrtype;
		a->code = code;
		va_start(ap, fmt);
		vsnprintf(a->message, sizeof(a->message), fmt, ap);
		va_end(ap);
	}
	return a;
}

int
dns_start(struct dns *dns, const char *name, int rrtype, int64_t deadline_ms,
    dns_done done, void *arg)
{
	struct query *q = calloc(1, sizeof(*q));
	int rc;

	if (q == NULL) {
		done(arg,
		    answer_error(
		        rrtype, MTASTS_ERR_NOMEM, "%s: out of memory", name));
		return -1;
	}
	*q = (struct query){
	    dns, 0, rrtype, deadline_ms, done, arg, dns->pending, ""};
	snprintf(q->name, sizeof(q->name), "%s", name);
	dns->pending = q;
	dns->npending++;
	rc = ub_resolve_async(
	    dns->ub, name, rrtype, 1 /* IN */, q, on_result, &q->async_id);
	if (rc != 0) {
		finish(q,
		    answer_error(rrtype, MTASTS_ERR_INTERNAL,
		        "%s: the resolver could not start the query", name));
		return -1;
	}
	return 0;
}

int
dns_fd(struct dns *dns)
{
	return dns->npending > 0 ? ub_fd(dns->ub) : -1;
}

void
dns_process(struct dns *dns, int64_t now_ms)
{
	struct query *q;

	if (dns->npending > 0 && ub_poll(dns->ub))
		ub_process(dns->ub);
	/* overdue queries end with a timeout; restart the scan after each
	 * callback, which may start new queries */
	for (q = dns->pending; q != NULL;) {
		if (q->deadline_ms > now_ms) {
			q = q->next;
			continue;
		}
		ub_cancel(dns->ub, q->async_id);
		finish(q,
		    answer_error(q->rrtype, MTASTS_ERR_TIMEOUT,
		        "%s: the DNS query timed out", q->name));
		q = dns->pending;
	}
}

int64_t
dns_next_deadline(const struct dns *dns)
{
	const struct query *q;
	int64_t soonest = -1;

	for (q = dns->pending; q != NULL; q = q->next)
		if (soonest < 0 || q->deadline_ms < soonest)
			soonest = q->deadline_ms;
	return soonest;
}

size_t
dns_pending(const struct dns *dns)
{
	return dns->npending;
}

struct waiter {
	bool done;
	struct dns_answer *answer;
};

static void
on_waited(void *arg, struct dns_answer *answer)
{
	struct waiter *w = arg;

	w->answer = answer;
	w->done = true;
}

struct dns_answer *
dns_lookup(struct dns *dns, const char *name, int rrtype, long timeout_ms)
{
	struct waiter w = {false, NULL};
	int64_t deadline = mono_ms() + timeout_ms;

	dns_start(dns, name, rrtype, deadline, on_waited, &w);
	while (!w.done) {
		struct pollfd pfd = {.fd = dns_fd(dns), .events = POLLIN};
		int64_t left = deadline - mono_ms();

		if (pfd.fd >= 0 && left > 0)
			poll(&pfd, 1, left < 100 ? (int)left : 100);
		dns_process(dns, mono_ms());
	}
	return w.answer;
}
