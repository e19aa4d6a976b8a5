/*
 * tlsrpt_report.c - one RFC 8460 report, from what the store counted:
 * the §4 JSON, gzipped, its §5.1 file name, and the §5.3 mail.
 */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "domain.h"
#include "tlsrpt_report.h"
#include "tlsrpt_store.h"

void
report_submitter(const struct mtasts_config *cfg, char *out, size_t len)
{
	if (cfg->tlsrpt_submitter != NULL) {
		snprintf(out, len, "%s", cfg->tlsrpt_submitter);
		return;
	}
	/* it names files and goes into headers: a host name, or none */
	if (gethostname(out, len) != 0 || (out[len - 1] = '\0',
	                                      !domain_is_valid(out, strlen(out))))
		snprintf(out, len, "localhost");
}

void
report_from(const struct mtasts_config *cfg, const struct report *r,
    char *out, size_t len)
{
	if (cfg->tlsrpt_from != NULL)
		snprintf(out, len, "%s", cfg->tlsrpt_from);
	else
		snprintf(out, len, "noreply-smtp-tls-reporting@%s",
		    r->submitter);
}

/* The policy's lines (§4.4 policy-string) and its mx patterns. */
static void
policy_lines(const char *text, json_t *lines, json_t *mx)
{
	const char *p = text;

	while (*p != '\0') {
		size_t n = strcspn(p, "\n");

		json_array_append_new(lines, json_stringn(p, n));
		if (n > 4 && strncmp(p, "mx: ", 4) == 0)
			json_array_append_new(mx, json_stringn(p + 4, n - 4));
		p += n + (p[n] == '\n');
	}
}

/* One entry of "policies" (§4.4 - §4.6). */
static json_t *
policy_entry(const char *domain, json_t *p)
{
	json_t *policy, *details = json_array(), *d;
	const char *type = json_string_value(json_object_get(p, "type"));
	size_t i;

	if (type != NULL && strcmp(type, "sts") == 0) {
		json_t *lines = json_array(), *mx = json_array();

		policy_lines(json_string_value(json_object_get(p, "policy")),
		    lines, mx);
		policy = json_pack("{s:s, s:o, s:s, s:o}", "policy-type",
		    "sts", "policy-string", lines, "policy-domain", domain,
		    "mx-host", mx);
	} else
		policy = json_pack("{s:s, s:s}", "policy-type",
		    "no-policy-found", "policy-domain", domain);
	json_array_foreach(json_object_get(p, "details"), i, d)
	{
		json_t *row = json_pack("{s:O}", "result-type",
		    json_object_get(d, "result"));
		static const char *const fields[][2] = {
		    {"sending_ip", "sending-mta-ip"},
		    {"mx_host", "receiving-mx-hostname"},
		    {"receiving_ip", "receiving-ip"}};
		size_t f;

		for (f = 0; f < 3; f++) {
			const char *v = json_string_value(
			    json_object_get(d, fields[f][0]));

			if (v != NULL && v[0] != '\0')
				json_object_set_new(
				    row, fields[f][1], json_string(v));
		}
		json_object_set(
		    row, "failed-session-count", json_object_get(d, "count"));
		json_array_append_new(details, row);
	}
	return json_pack("{s:o, s:{s:O, s:O}, s:o}", "policy", policy,
	    "summary", "total-successful-session-count",
	    json_object_get(p, "success"), "total-failure-session-count",
	    json_object_get(p, "failure"), "failure-details", details);
}

static int
gzip_text(const char *text, unsigned char **out, size_t *len)
{
	size_t n = strlen(text);
	uLong cap = compressBound((uLong)n) + 32;
	z_stream z = {0};
	unsigned char *buf = malloc(cap);

	/* windowBits 15 + 16: a gzip stream, not zlib's */
	if (buf == NULL || deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED,
	                       15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(buf);
		return -1;
	}
	z.next_in = (Bytef *)text;
	z.avail_in = (uInt)n;
	z.next_out = buf;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		deflateEnd(&z);
		free(buf);
		return -1;
	}
	*len = z.total_out;
	deflateEnd(&z);
	*out = buf;
	return 0;
}

int
report_build(struct report *r, const struct mtasts_config *cfg,
    const char *day, const char *domain, json_t *policies)
{
	char start[32], end[32];
	time_t t0 = (time_t)tlsrpt_day_start(day);
	json_t *list = json_array(), *p, *doc;
	size_t i;
	struct tm tm;

	memset(r, 0, sizeof(*r));
	snprintf(r->day, sizeof(r->day), "%s", day);
	snprintf(r->domain, sizeof(r->domain), "%s", domain);
	report_submitter(cfg, r->submitter, sizeof(r->submitter));
	gmtime_r(&t0, &tm);
	strftime(start, sizeof(start), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(end, sizeof(end), "%sT23:59:59Z", day);
	/* the same report, whenever it is built or sent again; a msg-id
	 * (RFC 8460 §5.3, RFC 5322 §3.6.4), for the Subject carries it:
	 * day, domain and submitter are atext and dots only, no dot at an
	 * end or beside another (a day, and two host names) */
	snprintf(r->id, sizeof(r->id), "%s.%s@%s", day, domain, r->submitter);
	snprintf(r->filename, sizeof(r->filename), "%s!%s!%lld!%lld.json.gz",
	    r->submitter, domain, (long long)t0, (long long)t0 + 86399);
	json_array_foreach(policies, i, p)
	    json_array_append_new(list, policy_entry(domain, p));
	doc = json_pack("{s:s, s:{s:s, s:s}, s:s, s:s, s:o}",
	    "organization-name",
	    cfg->tlsrpt_org != NULL        ? cfg->tlsrpt_org
	        : tlsrpt_store_shared(cfg) ? cfg->fleet_name
	                                   : r->submitter,
	    "date-range", "start-datetime", start, "end-datetime", end,
	    "contact-info", "", "report-id", r->id, "policies", list);
	if (doc == NULL)
		return -1;
	if (cfg->tlsrpt_contact != NULL)
		json_object_set_new(
		    doc, "contact-info", json_string(cfg->tlsrpt_contact));
	else {
		char contact[300];

		snprintf(contact, sizeof(contact), "postmaster@%s",
		    r->submitter);
		json_object_set_new(doc, "contact-info", json_string(contact));
	}
	r->json = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	if (r->json == NULL || gzip_text(r->json, &r->gz, &r->gz_len) != 0) {
		report_clear(r);
		return -1;
	}
	return 0;
}

void
report_clear(struct report *r)
{
	free(r->json);
	free(r->gz);
	r->json = NULL;
	r->gz = NULL;
}

/* The attachment in base64, lines of 76 (RFC 2045 §6.8), ended as
 * sendmail reads them (LF). */
static char *
base64_lines(const unsigned char *data, size_t len)
{
	size_t chunks = (len + 56) / 57, o = 0, i;
	char *out = malloc(chunks * 77 + 1);

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i += 57) {
		size_t n = len - i < 57 ? len - i : 57;

		o += (size_t)EVP_EncodeBlock(
		    (unsigned char *)out + o, data + i, (int)n);
		out[o++] = '\n';
	}
	out[o] = '\0';
	return out;
}

/* The §5.3 mail (lines ended by LF: sendmail's input). */
char *
report_mail(const struct report *r, const struct mtasts_config *cfg,
    const char *rcpt)
{
	char from[400], date[64], boundary[48];
	unsigned char rnd[12];
	char *b64, *mail = NULL;
	time_t now = time(NULL);
	struct tm tm;
	size_t i;

	report_from(cfg, r, from, sizeof(from));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	i = (size_t)snprintf(boundary, sizeof(boundary), "=_tlsrpt_");
	for (size_t k = 0; k < sizeof(rnd); k++)
		i += (size_t)snprintf(boundary + i, sizeof(boundary) - i,
		    "%02x", rnd[k]);
	if ((b64 = base64_lines(r->gz, r->gz_len)) == NULL)
		return NULL;
	if (asprintf(&mail,
	        "From: %s\n"
	        "To: %s\n"
	        "Date: %s\n"
	        "Subject: Report Domain: %s Submitter: %s Report-ID: <%s>\n"
	        "Message-ID: <tlsrpt.%s.%s@%s>\n"
	        "TLS-Report-Domain: %s\n"
	        "TLS-Report-Submitter: %s\n"
	        "TLS-Required: No\n"
	        "MIME-Version: 1.0\n"
	        "Content-Type: multipart/report; report-type=\"tlsrpt\";\n"
	        "\tboundary=\"%s\"\n"
	        "\n"
	        "This is an RFC 8460 TLS report in MIME format.\n"
	        "\n"
	        "--%s\n"
	        "Content-Type: text/plain; charset=\"us-ascii\"\n"
	        "Content-Transfer-Encoding: 7bit\n"
	        "\n"
	        "This is an aggregate TLS report from %s about mail to %s\n"
	        "on %s (UTC), attached as %s.\n"
	        "\n"
	        "--%s\n"
	        "Content-Type: application/tlsrpt+gzip\n"
	        "Content-Transfer-Encoding: base64\n"
	        "Content-Disposition: attachment;\n"
	        "\tfilename=\"%s\"\n"
	        "\n"
	        "%s"
	        "\n"
	        "--%s--\n",
	        from, rcpt, date, r->domain, r->submitter, r->id, r->day,
	        r->domain, r->submitter,
	        r->domain, r->submitter, boundary, boundary, r->submitter,
	        r->domain, r->day, r->filename, boundary, r->filename, b64,
	        boundary) < 0)
		mail = NULL;
	free(b64);
	return mail;
}
