/*
 * fetch.c - fetching https://mta-sts.<domain>/.well-known/mta-sts.txt as
 * RFC 8461 §3.3 demands: HTTPS only, a certificate valid for the host (SNI,
 * PKIX), no redirects, 200 only, text/plain, a capped body, deadlines.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>

#include "ca.h"
#include "error.h"
#include "fetch.h"
#include "mtasts_version.h"

#define USER_AGENT "mtasts/" MTASTS_VERSION " (RFC 8461)"

static size_t
on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct fetch *f = arg;
	size_t n = size * nmemb;
	long status = 0;
	char *grown;

	/* a non-200 answer is an error whatever its body: stop reading */
	f->curl->easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return 0;
	/* RFC 8461 §3.3: senders may limit the body; 64 KiB */
	if (n > MTASTS_POLICY_MAX_BYTES - f->len) {
		f->too_large = true;
		return 0;
	}
	if ((grown = realloc(f->body, f->len + n + 1)) == NULL) {
		f->nomem = true;
		return 0;
	}
	f->body = grown;
	memcpy(f->body + f->len, data, n);
	f->len += n;
	return n;
}

/* "host:port:addr1,addr2" for CURLOPT_RESOLVE, IPv6 in brackets. */
static struct curl_slist *
add_resolve(const struct curl_api *curl, struct curl_slist *list,
    const char *host, const char *port, char *const *addrs, size_t naddrs,
    bool *ok)
{
	struct curl_slist *grown = NULL;
	size_t i, o, cap = strlen(host) + strlen(port) + 3;
	char *entry;

	for (i = 0; i < naddrs; i++)
		cap += strlen(addrs[i]) + 3;
	if ((entry = malloc(cap)) == NULL) {
		*ok = false;
		return list;
	}
	o = (size_t)snprintf(entry, cap, "%s:%s:", host, port);
	for (i = 0; i < naddrs; i++) {
		bool v6 = strchr(addrs[i], ':') != NULL;

		o += (size_t)snprintf(entry + o, cap - o, "%s%s%s%s",
		    i > 0 ? "," : "", v6 ? "[" : "", addrs[i], v6 ? "]" : "");
	}
	if (o < cap)
		grown = curl->slist_append(list, entry);
	free(entry);
	if (grown == NULL) {
		*ok = false;
		return list;
	}
	return grown;
}

/*
 * The addresses our resolver found, for port 443 and for every port a
 * connect_to entry sends 443 to while keeping the host name
 * ("HOST:443::PORT"), so that curl never resolves names itself.
 */
static struct curl_slist *
resolve_list(const struct curl_api *curl, const struct mtasts_config *cfg,
    const char *host, char *const *addrs, size_t naddrs, bool *ok)
{
	struct curl_slist *list =
	    add_resolve(curl, NULL, host, "443", addrs, naddrs, ok);
	size_t i;

	for (i = 0; i < cfg->connect_to_count; i++) {
		const char *e = cfg->connect_to[i], *port = strrchr(e, ':');

		/* HOST:PORT:TARGET-HOST:TARGET-PORT with TARGET-HOST empty */
		if (port == NULL || port == e || port[-1] != ':')
			continue;
		list = add_resolve(
		    curl, list, host, port + 1, addrs, naddrs, ok);
	}
	return list;
}

CURLcode
fetch_use_store(CURL *easy, void *ssl_ctx, void *store)
{
	(void)easy;
	SSL_CTX_set1_cert_store(ssl_ctx, store);
	return CURLE_OK;
}

CURLcode
fetch_set_https(const struct curl_api *curl, CURL *e,
    const struct mtasts_config *cfg, X509_STORE *ca)
{
	CURLcode rc = CURLE_OK;

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = curl->easy_setopt(e, opt, val);                   \
	} while (0)
	SET(CURLOPT_PROTOCOLS_STR, "https");
	SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
	/* RFC 8461 §3.3: "HTTP 3xx redirects MUST NOT be followed" */
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	/* the store read once (ca.c), not curl's defaults for each transfer */
	SET(CURLOPT_CAINFO, NULL);
	SET(CURLOPT_CAPATH, NULL);
	SET(CURLOPT_SSL_CTX_FUNCTION, fetch_use_store);
	SET(CURLOPT_SSL_CTX_DATA, ca);
	/* "" turns off the proxies of the environment */
	SET(CURLOPT_PROXY, cfg->proxy != NULL ? cfg->proxy : "");
	SET(CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
	SET(CURLOPT_NOSIGNAL, 1L);
#undef SET
	return rc;
}

static int
set_options(struct fetch *f, const struct mtasts_config *cfg)
{
	CURL *e = f->easy;
	CURLcode rc = fetch_set_https(f->curl, e, cfg, f->ca);

#define SET(opt, val)                                                          \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = f->curl->easy_setopt(e, opt, val);              \
	} while (0)
	SET(CURLOPT_URL, f->url);
	SET(CURLOPT_TIMEOUT_MS, cfg->fetch_timeout_ms);
	SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)MTASTS_POLICY_MAX_BYTES);
	/* one fetch per host: keeping connections open only costs memory */
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_USERAGENT, USER_AGENT);
	SET(CURLOPT_ACCEPT_ENCODING, NULL);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, f);
	SET(CURLOPT_ERRORBUFFER, f->errbuf);
	if (f->resolve != NULL)
		SET(CURLOPT_RESOLVE, f->resolve);
	if (f->connect_to != NULL)
		SET(CURLOPT_CONNECT_TO, f->connect_to);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

int
fetch_init(struct fetch *f, const struct mtasts_config *cfg, X509_STORE *ca,
    const char *domain, char *const *addrs, size_t naddrs,
    struct mtasts_error *err)
{
	char host[MTASTS_DOMAIN_MAX + 1];
	size_t i;

	memset(f, 0, sizeof(*f));
	if ((f->curl = curl_api(err)) == NULL)
		return -1;
	if (ca == NULL || X509_STORE_up_ref(ca) != 1) {
		mtasts_error_set(err, MTASTS_ERR_TLS_SETUP, "no CA store");
		return -1;
	}
	f->ca = ca;
	f->via_proxy = cfg->proxy != NULL;
	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	snprintf(
	    f->url, sizeof(f->url), "https://%s/.well-known/mta-sts.txt", host);
	/* connect to the addresses our resolver found, not curl's */
	if (naddrs > 0) {
		bool ok = true;

		f->resolve =
		    resolve_list(f->curl, cfg, host, addrs, naddrs, &ok);
		if (!ok)
			goto fail;
	}
	for (i = 0; i < cfg->connect_to_count; i++) {
		struct curl_slist *l =
		    f->curl->slist_append(f->connect_to, cfg->connect_to[i]);

		if (l == NULL)
			goto fail;
		f->connect_to = l;
	}
	if ((f->easy = f->curl->easy_init()) == NULL || set_options(f, cfg) != 0)
		goto fail;
	return 0;
fail:
	fetch_cleanup(f);
	mtasts_error_set(err, MTASTS_ERR_INTERNAL,
	    "could not set up the HTTPS request for %s", host);
	return -1;
}

static mtasts_code
transfer_error(struct fetch *f, CURLcode rc, struct mtasts_error *err)
{
	const char *why =
	    f->errbuf[0] != '\0' ? f->errbuf : f->curl->easy_strerror(rc);

	long verify = X509_V_OK;

	/* through a proxy, a connection that fails may be the proxy's: this
	 * host's machinery, which says nothing of the policy host */
	if (f->via_proxy &&
	    (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_PROXY ||
	        rc == CURLE_PROXY || rc == CURLE_RECV_ERROR ||
	        rc == CURLE_GOT_NOTHING))
		return mtasts_error_set(
		    err, MTASTS_ERR_PROXY, "%s: %s", f->url, why);
	/* what failed was this host's: memory, or the system refusing a
	 * socket; no answer about the policy host */
	if (f->nomem || rc == CURLE_WRITE_ERROR)
		return mtasts_error_set(err, MTASTS_ERR_NOMEM,
		    "%s: the policy could not be kept in memory", f->url);
	if (rc == CURLE_COULDNT_CONNECT) {
		long oserr = 0;

		f->curl->easy_getinfo(f->easy, CURLINFO_OS_ERRNO, &oserr);
		if (oserr == EMFILE || oserr == ENFILE || oserr == ENOMEM ||
		    oserr == ENOBUFS)
			return mtasts_error_set(err, MTASTS_ERR_INTERNAL,
			    "%s: %s", f->url, strerror((int)oserr));
	}
	switch (rc) {
	case CURLE_PEER_FAILED_VERIFICATION:
		/* a certificate outside its dates, by this host's clock */
		f->curl->easy_getinfo(f->easy, CURLINFO_SSL_VERIFYRESULT, &verify);
		if (verify == X509_V_ERR_CERT_HAS_EXPIRED ||
		    verify == X509_V_ERR_CERT_NOT_YET_VALID)
			return mtasts_error_set(err, MTASTS_ERR_TLS_CERT_TIME,
			    "%s: %s", f->url, why);
		return mtasts_error_set(
		    err, MTASTS_ERR_TLS, "%s: %s", f->url, why);
	case CURLE_OPERATION_TIMEDOUT:
		return mtasts_error_set(
		    err, MTASTS_ERR_TIMEOUT, "%s: %s", f->url, why);
	case CURLE_FILESIZE_EXCEEDED:
		return mtasts_error_set(err, MTASTS_ERR_POLICY_TOO_LARGE,
		    "%s: the policy has more than %d bytes", f->url,
		    MTASTS_POLICY_MAX_BYTES);
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return mtasts_error_set(
		    err, MTASTS_ERR_TLS, "%s: %s", f->url, why);
	/* this host's TLS machinery, not the policy host's answer */
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
		return mtasts_error_set(
		    err, MTASTS_ERR_TLS_SETUP, "%s: %s", f->url, why);
	case CURLE_COULDNT_CONNECT:
		return mtasts_error_set(
		    err, MTASTS_ERR_HTTP_CONNECT, "%s: %s", f->url, why);
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
		return mtasts_error_set(
		    err, MTASTS_ERR_HTTP_CUT, "%s: %s", f->url, why);
	case CURLE_OUT_OF_MEMORY:
		return mtasts_error_set(
		    err, MTASTS_ERR_NOMEM, "%s: %s", f->url, why);
	case CURLE_FAILED_INIT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_NOT_BUILT_IN:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_UNKNOWN_OPTION:
		return mtasts_error_set(
		    err, MTASTS_ERR_INTERNAL, "%s: %s", f->url, why);
	default:
		return mtasts_error_set(
		    err, MTASTS_ERR_HTTP, "%s: %s", f->url, why);
	}
}

/* RFC 8461 §3.3: the media type must be text/plain; parameters such as
 * charset are allowed. */
static bool
is_text_plain(const char *type)
{
	size_t n;

	if (type == NULL)
		return false;
	type += strspn(type, " \t");
	n = strcspn(type, "; \t");
	return n == 10 && strncasecmp(type, "text/plain", 10) == 0;
}

mtasts_code
fetch_finish(struct fetch *f, CURLcode rc, struct mtasts_policy **out,
    struct mtasts_error *err)
{
	long status = 0;
	char *type = NULL, q[96];
	const char *location = NULL;
	struct curl_header *h;
	struct mtasts_error perr;

	*out = NULL;
	f->curl->easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &status);
	/* a status line came: it speaks first, whatever stopped the body
	 * (curl refuses a large Content-Length before reading it) */
	if (status != 0) {
		if (status >= 300 && status < 400) {
			if (f->curl->easy_header(f->easy, "Location", 0,
			        CURLH_HEADER, -1, &h) == CURLHE_OK)
				location = h->value;
			/* RFC 8461 §3.3: redirects MUST NOT be followed */
			return mtasts_error_set(err, MTASTS_ERR_HTTP_REDIRECT,
			    "%s answered %ld, a redirect to %s, which RFC "
			    "8461 forbids following",
			    f->url, status,
			    location != NULL ? mtasts_quote(q, sizeof(q),
			                           location, strlen(location))
			                     : "nowhere");
		}
		if (status != 200)
			return mtasts_error_set_http_status(
			    err, f->url, status);
	}
	if (f->too_large)
		return mtasts_error_set(err, MTASTS_ERR_POLICY_TOO_LARGE,
		    "%s: the policy has more than %d bytes", f->url,
		    MTASTS_POLICY_MAX_BYTES);
	if (rc != CURLE_OK)
		return transfer_error(f, rc, err);
	f->curl->easy_getinfo(f->easy, CURLINFO_CONTENT_TYPE, &type);
	if (!is_text_plain(type))
		return mtasts_error_set(err, MTASTS_ERR_HTTP_CONTENT_TYPE,
		    "%s is served as %s, not text/plain", f->url,
		    type != NULL
		        ? mtasts_quote(q, sizeof(q), type, strlen(type))
		        : "no media type");
	if (mtasts_policy_parse(f->body != NULL ? f->body : "", f->len, out,
	        &perr) != MTASTS_OK) {
		if (err != NULL)
			*err = perr;
		return perr.code;
	}
	return MTASTS_OK;
}

mtasts_code
fetch_now(struct fetch *f, const struct mtasts_config *cfg, const char *domain,
    char *const *addrs, size_t naddrs, bool user_agent,
    struct mtasts_policy **out, struct mtasts_error *err)
{
	X509_STORE *ca;
	int rc;

	*out = NULL;
	memset(f, 0, sizeof(*f));
	if ((ca = ca_store_load(cfg, err)) == NULL)
		return err != NULL ? err->code : MTASTS_ERR_TLS_SETUP;
	rc = fetch_init(f, cfg, ca, domain, addrs, naddrs, err);
	X509_STORE_free(ca); /* the fetch holds its own reference */
	if (rc != 0)
		return err != NULL ? err->code : MTASTS_ERR_INTERNAL;
	if (!user_agent)
		f->curl->easy_setopt(f->easy, CURLOPT_USERAGENT, NULL);
	return fetch_finish(f, f->curl->easy_perform(f->easy), out, err);
}

void
fetch_cleanup(struct fetch *f)
{
	if (f->curl != NULL) {
		if (f->easy != NULL)
			f->curl->easy_cleanup(f->easy);
		f->curl->slist_free_all(f->resolve);
		f->curl->slist_free_all(f->connect_to);
	}
	free(f->body);
	X509_STORE_free(f->ca);
	memset(f, 0, sizeof(*f));
}
