/*
 * discovery_floor.c - benchmark (not a test): the CPU time of a discovery's
 * parts, each kind alone, against a loopback world, so that the figures of
 * tests/bench/peer.py can say where a discovery's time goes and what the
 * libraries underneath cost at best:
 *
 *   discovery_floor fetch CONFIG ADDRESS N FORMAT
 *       mtasts' policy fetch (common/net/fetch.c: libcurl, the CA store read
 *       once), 32 at a time on one curl multi handle, as a discovery
 *       runs them
 *   discovery_floor openssl CONFIG ADDRESS N FORMAT
 *       the same GET, verified the same way, with OpenSSL alone and one
 *       SSL_CTX for every connection, one after another: the TLS floor
 *   discovery_floor dns CONFIG N FORMAT
 *       mtasts' TXT queries (common/net/dns.c: libunbound with its thread),
 *       32 at a time as a discovery runs them
 *   discovery_floor dns-event CONFIG N FORMAT
 *       the same queries through libunbound's event API in the caller's
 *       loop, without the thread and its pipe
 *
 * FORMAT names the i-th domain (e.g. d%d.bench.example); the policy host
 * is mta-sts.<domain> at ADDRESS, port 443.  The CA store and the resolver
 * are CONFIG's.  Prints the CPU time (user + system) per operation; exits
 * 1 unless every operation succeeded, as a figure of failures means
 * nothing.  Not installed.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unbound-event.h>
#include <unbound.h>
#include <unistd.h>

#include "ca.h"
#include "clock.h"
#include "config.h"
#include "dns.h"
#include "fetch.h"

#define WINDOW 32 /* concurrent queries, mtasts' default concurrency */

static struct {
	const struct mtasts_config *cfg;
	const char *address, *format;
	int n, sent, done, ok;
	struct ub_ctx *ub;
} run;

static double
cpu_us(void)
{
	struct rusage r;

	getrusage(RUSAGE_SELF, &r);
	return (double)(r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1e6 +
	    (double)(r.ru_utime.tv_usec + r.ru_stime.tv_usec);
}

static void
domain_of(int i, char *out, size_t len)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	snprintf(out, len, run.format, i);
#pragma GCC diagnostic pop
}

static void
fetch_start(CURLM *multi, struct fetch *fetches, X509_STORE *ca)
{
	char *addrs[] = {(char *)run.address};
	char domain[MTASTS_DOMAIN_MAX + 1];
	struct mtasts_error err;
	struct fetch *f = &fetches[run.sent];

	domain_of(run.sent++, domain, sizeof(domain));
	if (fetch_init(f, run.cfg, ca, domain, addrs, 1, &err) != 0 ||
	    f->curl->easy_setopt(f->easy, CURLOPT_PRIVATE, f) != CURLE_OK ||
	    f->curl->multi_add_handle(multi, f->easy) != CURLM_OK) {
		fprintf(stderr, "%s: could not start\n", domain);
		run.done++;
	}
}

/* As a discovery runs them: one curl multi handle, WINDOW at a time */
static void
fetch_all(X509_STORE *ca)
{
	const struct curl_api *curl = curl_api(NULL);
	struct fetch *fetches = calloc((size_t)run.n, sizeof(*fetches));
	CURLM *multi = curl->multi_init();
	int running, left;

	if (fetches == NULL || multi == NULL)
		return;
	while (run.done < run.n) {
		CURLMsg *msg;

		while (run.sent < run.n && run.sent - run.done < WINDOW)
			fetch_start(multi, fetches, ca);
		curl->multi_poll(multi, NULL, 0, 100, NULL);
		curl->multi_perform(multi, &running);
		while ((msg = curl->multi_info_read(multi, &left)) != NULL) {
			struct mtasts_policy *policy = NULL;
			struct mtasts_error err;
			struct fetch *f;

			curl->easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &f);
			curl->multi_remove_handle(multi, f->easy);
			if (fetch_finish(f, msg->data.result, &policy, &err) ==
			    MTASTS_OK)
				run.ok++;
			else
				fprintf(stderr, "%s\n", err.message);
			mtasts_policy_free(policy);
			fetch_cleanup(f);
			run.done++;
		}
	}
	curl->multi_cleanup(multi);
	free(fetches);
}

/* One verified GET of the policy with ctx; true when the answer is 200. */
static bool
openssl_get(SSL_CTX *ctx, const char *domain)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(443)};
	char host[MTASTS_DOMAIN_MAX + 16], request[512], answer[65536];
	size_t got = 0;
	int s, one = 1, r, len;
	bool ok = false;
	SSL *ssl;

	snprintf(host, sizeof(host), "mta-sts.%s", domain);
	if (inet_pton(AF_INET, run.address, &sa.sin_addr) != 1 ||
	    (s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return false;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    (ssl = SSL_new(ctx)) == NULL) {
		close(s);
		return false;
	}
	len = snprintf(request, sizeof(request),
	    "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: %s\r\n"
	    "Connection: close\r\n\r\n",
	    host);
	if (SSL_set_fd(ssl, s) == 1 &&
	    SSL_set_tlsext_host_name(ssl, host) == 1 &&
	    SSL_set1_host(ssl, host) == 1 && SSL_connect(ssl) == 1 &&
	    SSL_get_verify_result(ssl) == X509_V_OK &&
	    SSL_write(ssl, request, len) == len) {
		while (got < sizeof(answer) - 1 &&
		    (r = SSL_read(ssl, answer + got,
		         (int)(sizeof(answer) - 1 - got))) > 0)
			got += (size_t)r;
		answer[got] = '\0';
		ok = strncmp(answer, "HTTP/1.1 200 ", 13) == 0 &&
		    strstr(answer, "\r\n\r\nversion: STSv1") != NULL;
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(s);
	return ok;
}

static void
openssl_all(X509_STORE *ca)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	int i;

	if (ctx == NULL)
		return;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set1_cert_store(ctx, ca);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	for (i = 0; i < run.n; i++) {
		char domain[MTASTS_DOMAIN_MAX + 1];

		domain_of(i, domain, sizeof(domain));
		if (openssl_get(ctx, domain))
			run.ok++;
		else
			fprintf(stderr, "%s: the GET failed\n", domain);
	}
	SSL_CTX_free(ctx);
}

static void
txt_name(int i, char *out, size_t len)
{
	char domain[MTASTS_DOMAIN_MAX + 1];

	domain_of(i, domain, sizeof(domain));
	snprintf(out, len, "_mta-sts.%s", domain);
}

static void
on_answer(void *arg, struct dns_answer *a)
{
	(void)arg;
	run.done++;
	if (a->code == MTASTS_OK && a->count > 0)
		run.ok++;
	dns_answer_free(a);
}

static void
dns_all(void)
{
	struct mtasts_error err;
	struct dns *dns = dns_new(run.cfg, &err);

	if (dns == NULL) {
		fprintf(stderr, "%s\n", err.message);
		return;
	}
	while (run.done < run.n) {
		struct pollfd p = {.fd = dns_fd(dns), .events = POLLIN};

		while (run.sent < run.n && run.sent - run.done < WINDOW) {
			char name[MTASTS_DOMAIN_MAX + 16];

			txt_name(run.sent++, name, sizeof(name));
			if (dns_start(dns, name, DNS_TYPE_TXT,
			        mono_ms() + run.cfg->dns_timeout_ms, on_answer,
			        NULL) != 0)
				run.done++;
		}
		poll(&p, 1, 100);
		dns_process(dns, mono_ms());
	}
	dns_free(dns);
}

static void more_events(void);

static void
on_event_answer(void *arg, int rcode, void *packet, int len, int sec,
    char *why_bogus, int was_ratelimited)
{
	(void)arg, (void)packet, (void)sec, (void)why_bogus;
	(void)was_ratelimited;
	run.done++;
	if (rcode == 0 && len >= 12)
		run.ok++;
	more_events();
}

static void
more_events(void)
{
	while (run.sent < run.n && run.sent - run.done < WINDOW) {
		char name[MTASTS_DOMAIN_MAX + 16];
		int id;

		txt_name(run.sent++, name, sizeof(name));
		if (ub_resolve_event(run.ub, name, DNS_TYPE_TXT, 1, NULL,
		        on_event_answer, &id) != 0)
			run.done++;
	}
}

static void
dns_event_all(void)
{
	struct event_base *base = event_base_new();

	if (base == NULL || (run.ub = ub_ctx_create_event(base)) == NULL)
		return;
	if (run.cfg->forwarder == NULL ||
	    ub_ctx_set_fwd(run.ub, run.cfg->forwarder) != 0 ||
	    ub_ctx_set_option(run.ub, "do-not-query-localhost:", "no") != 0 ||
	    ub_ctx_set_option(run.ub, "module-config:", "iterator") != 0) {
		fprintf(stderr, "dns-event needs resolver = ADDRESS\n");
		return;
	}
	more_events();
	event_base_dispatch(base);
	ub_ctx_delete(run.ub);
	event_base_free(base);
}

int
main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "";
	bool tls = strcmp(kind, "fetch") == 0 || strcmp(kind, "openssl") == 0;
	struct mtasts_config *cfg;
	struct mtasts_error err;
	X509_STORE *ca = NULL;
	double start;

	if (argc != (tls ? 6 : 5) ||
	    (!tls && strcmp(kind, "dns") != 0 && strcmp(kind, "dns-event") != 0)) {
		fprintf(stderr,
		    "usage: discovery_floor fetch|openssl CONFIG ADDRESS N "
		    "FORMAT\n       discovery_floor dns|dns-event CONFIG N "
		    "FORMAT\n");
		return 2;
	}
	if (mtasts_config_load(argv[2], &cfg, &err) != MTASTS_OK) {
		fprintf(stderr, "%s\n", err.message);
		return 2;
	}
	run.cfg = cfg;
	run.address = tls ? argv[3] : NULL;
	run.n = atoi(argv[tls ? 4 : 3]);
	run.format = argv[tls ? 5 : 4];
	if (tls) {
		/* read before the clock starts, as a discovery reads it once */
		if ((ca = ca_store_load(cfg, &err)) == NULL ||
		    curl_api(&err) == NULL ||
		    curl_api(&err)->global_init(CURL_GLOBAL_DEFAULT) != 0) {
			fprintf(stderr, "%s\n", err.message);
			return 2;
		}
	}
	start = cpu_us();
	if (strcmp(kind, "fetch") == 0)
		fetch_all(ca);
	else if (strcmp(kind, "openssl") == 0)
		openssl_all(ca);
	else if (strcmp(kind, "dns") == 0)
		dns_all();
	else
		dns_event_all();
	printf("%s: %d/%d, %.1f us CPU each\n", kind, run.ok, run.n,
	    (cpu_us() - start) / run.n);
	X509_STORE_free(ca);
	mtasts_config_free(cfg);
	return run.ok == run.n ? 0 : 1;
}
