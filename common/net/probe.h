/*
 * probe.h - one SMTP connection to an MX host on port 25, as a sending MTA
 * makes it (RFC 8461 §4.2): EHLO, STARTTLS, TLS with SNI, and what the
 * certificate says (internal to libmtasts; used by mtasts check).  The
 * plain SMTP under it: smtp_client.h.
 */
#ifndef MTASTS_PROBE_H
#define MTASTS_PROBE_H

#include <stdbool.h>

#define PROBE_MAX_SANS 16

struct probe_result {
	bool connected;
	bool starttls; /* offered after EHLO */
	bool tls; /* the handshake completed */
	char tls_version[16]; /* "TLSv1.3" */
	bool trusted; /* the chain verifies to a trusted CA */
	bool name_ok; /* the certificate is valid for the host */
	bool expired;
	char verify_error[128]; /* why it is not trusted */
	char subject[256];
	char issuer[256];
	char not_after[32]; /* RFC 3339 */
	char sans[PROBE_MAX_SANS][256];
	int san_count;
	char error[256]; /* what stopped the probe, "" if nothing */
	bool no_route; /* this host has no route to the address's network */
};

/*
 * Probes host (the MX name, for SNI and the name check) at address:port:
 * the connection within connect_ms, the whole conversation within
 * total_ms, however slowly the server answers.  ca_file and ca_path may
 * be NULL (the system's store).  Always fills r.
 */
void probe_smtp(const char *host, const char *address, int port,
    long connect_ms, long total_ms, const char *ca_file, const char *ca_path,
    struct probe_result *r);

/*
 * Whether an EHLO reply (NUL-terminated) offers STARTTLS (RFC 3207 §4):
 * the word, in any case, after a '-' or ' ' at least four bytes in, and
 * followed by CR or a space.  Lenient: the word in a line's text counts.
 */
bool probe_offers_starttls(const char *reply);

#endif
