/*
 * tlsrpt_deliver.c - a report to one rua: mailto: by SMTP to the local
 * MTA (tlsrpt_relay), or through its sendmail when the configuration
 * names one (RFC 8460 §5.3), https: by POST (§5.4).  Each has a deadline;
 * what the other side says decides between "try later" and "never".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "ca.h"
#include "curl_load.h"
#include "fetch.h"
#include "mtasts_version.h"
#include "smtp_submit.h"
#include "tlsrpt_deliver.h"

#define SENDMAIL_SECONDS 120
/* the relay is local: a minute for the exchange, half of it for any one
 * reply (RFC 5321 §4.5.3.2's minutes are for the Internet's servers) */
#define RELAY_SECONDS 60
#define RELAY_REPLY_SECONDS 30

/* d, with why set to what and arg. */
static enum delivery
say(enum delivery d, char *why, size_t len, const char *what, const char *arg)
{
	snprintf(why, len, "%s%s", what, arg);
	return d;
}

static int
hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The address of a mailto: URI (RFC 6068; no query), percent-decoded:
 * one @, printable, no spaces, not an option to sendmail, nothing that
 * could end an SMTP command.  -1 if not. */
static int
mailto_address(const char *uri, char *out, size_t len)
{
	const char *p = uri + strlen("mailto:");
	size_t o = 0;

	for (; *p != '\0' && *p != '?'; p++) {
		int c = (unsigned char)*p;

		if (c == '%' && hex(p[1]) >= 0 && hex(p[2]) >= 0) {
			c = hex(p[1]) * 16 + hex(p[2]);
			p += 2;
		}
		if (c <= ' ' || c >= 0x7f || c == '<' || c == '>' ||
		    c == ',' || o + 1 >= len)
			return -1;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (o == 0 || out[0] == '-' || strchr(out, '@') == NULL ||
	    strchr(out, '@') != strrchr(out, '@') ||
	    strrchr(out, '@')[1] == '\0')
		return -1;
	return 0;
}

/* Runs sendmail with the message on its standard input (a file, so that
 * a sendmail that does not read cannot block us), within a deadline. */
static enum delivery
by_sendmail(const struct mtasts_config *cfg, const char *from,
    const char *rcpt, const char *mail, char *why, size_t len)
{
	FILE *in = tmpfile();
	time_t deadline = time(NULL) + SENDMAIL_SECONDS;
	int status;
	pid_t pid;

	if (in == NULL || fputs(mail, in) == EOF || fflush(in) != 0 ||
	    fseek(in, 0, SEEK_SET) != 0) {
		if (in != NULL)
			fclose(in);
		return say(TRY_LATER, why, len, "cannot write the mail: ",
		    strerror(errno));
	}
	if ((pid = fork()) < 0) {
		fclose(in);
		return say(TRY_LATER, why, len, "fork: ", strerror(errno));
	}
	if (pid == 0) {
		dup2(fileno(in), STDIN_FILENO);
		execl(cfg->sendmail, "sendmail", "-oi", "-f", from, rcpt,
		    (char *)NULL);
		_exit(EX_OSERR);
	}
	fclose(in);
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time(NULL) > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return say(TRY_LATER, why, len,
			    cfg->sendmail, " did not finish in time");
		}
		usleep(20000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return say(DELIVERED, why, len, "handed to ", cfg->sendmail);
	if (WIFEXITED(status) && (WEXITSTATUS(status) == EX_USAGE ||
	                             WEXITSTATUS(status) == EX_DATAERR ||
	                             WEXITSTATUS(status) == EX_NOUSER ||
	                             WEXITSTATUS(status) == EX_NOHOST))
		return say(REFUSED, why, len, cfg->sendmail,
		    " refused the address");
	snprintf(why, len, "%s failed (status %d)", cfg->sendmail,
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return TRY_LATER;
}

/*
 * Submits the message by SMTP to the relay (smtp_submit.h).  Its word on
 * this mail (a 5xx to MAIL, RCPT, DATA or the message) is final; a 4xx,
 * or no word (refused, lost or timed-out connection, a reply that is not
 * SMTP, a 5xx to the greeting or EHLO: the relay's state, not the
 * mail's) is for a later run.
 */
static enum delivery
by_relay(const struct mtasts_config *cfg, const char *from, const char *rcpt,
    const char *mail, char *why, size_t len)
{
	char relay[64], helo[256];
	struct smtp_outcome out;
	struct smtp_submission s = {
	    .address = cfg->tlsrpt_relay,
	    .port = cfg->tlsrpt_relay_port,
	    .helo = helo,
	    .from = from,
	    .rcpt = rcpt,
	    .message = mail,
	    .connect_ms = cfg->connect_timeout_ms,
	    .reply_ms = RELAY_REPLY_SECONDS * 1000L,
	    .total_ms = RELAY_SECONDS * 1000L,
	};

	snprintf(relay, sizeof(relay),
	    strchr(cfg->tlsrpt_relay, ':') != NULL ? "[%s]:%d" : "%s:%d",
	    cfg->tlsrpt_relay, cfg->tlsrpt_relay_port);
	smtp_helo_name(helo, sizeof(helo));
	if (smtp_submit(&s, &out)) {
		snprintf(why, len, "handed to %s: %s", relay, out.text);
		return DELIVERED;
	}
	snprintf(why, len, "%s: %s", relay, out.text);
	return out.code >= 500 && out.code < 600 && out.step >= SMTP_STEP_MAIL
	    ? REFUSED
	    : TRY_LATER;
}

static enum delivery
by_mail(const struct mtasts_config *cfg, const struct report *r,
    const char *rua, char *why, size_t len)
{
	char rcpt[256], from[400];
	enum delivery d;
	char *mail;

	if (mailto_address(rua, rcpt, sizeof(rcpt)) != 0)
		return say(REFUSED, why, len, "not a mail address: ", rua);
	report_from(cfg, r, from, sizeof(from));
	if ((mail = report_mail(r, cfg, rcpt)) == NULL)
		return say(TRY_LATER, why, len, "", "out of memory");
	d = cfg->sendmail != NULL ? by_sendmail(cfg, from, rcpt, mail, why, len)
	                          : by_relay(cfg, from, rcpt, mail, why, len);
	free(mail);
	return d;
}

/* The collector's answer is not read: only its status counts. */
static size_t
discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

static enum delivery
by_post(const struct mtasts_config *cfg, const struct report *r,
    const char *url, char *why, size_t len)
{
	struct mtasts_error err;
	const struct curl_api *curl = curl_api(&err);
	struct curl_slist *headers = NULL, *connect_to = NULL;
	char errbuf[CURL_ERROR_SIZE] = "";
	X509_STORE *ca;
	enum delivery d;
	CURLcode rc;
	long status = 0;
	CURL *e;
	size_t i;

	if (curl == NULL)
		return say(TRY_LATER, why, len, "", err.message);
	if ((ca = ca_store_load(cfg, &err)) == NULL)
		return say(TRY_LATER, why, len, "", err.message);
	if ((e = curl->easy_init()) == NULL) {
		X509_STORE_free(ca);
		return say(TRY_LATER, why, len, "", "out of memory");
	}
	headers = curl->slist_append(
	    NULL, "Content-Type: application/tlsrpt+gzip");
	for (i = 0; i < cfg->connect_to_count; i++)
		connect_to = curl->slist_append(connect_to, cfg->connect_to[i]);
	rc = fetch_set_https(curl, e, cfg, ca);
#define SET(opt, val)                                                          \
	do {                                                                   \
		if (rc == CURLE_OK)                                            \
			rc = curl->easy_setopt(e, opt, val);                   \
	} while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_TIMEOUT_MS, cfg->fetch_timeout_ms * 2);
	SET(CURLOPT_USERAGENT, "mtasts/" MTASTS_VERSION " (TLS-RPT)");
	SET(CURLOPT_HTTPHEADER, headers);
	SET(CURLOPT_POSTFIELDS, (const char *)r->gz);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->gz_len);
	SET(CURLOPT_WRITEFUNCTION, discard);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	if (connect_to != NULL)
		SET(CURLOPT_CONNECT_TO, connect_to);
#undef SET
	if (rc == CURLE_OK)
		rc = curl->easy_perform(e);
	if (rc == CURLE_OK)
		curl->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		d = say(TRY_LATER, why, len, "",
		    errbuf[0] != '\0' ? errbuf : curl->easy_strerror(rc));
	else if (status >= 200 && status < 300)
		d = DELIVERED, snprintf(why, len, "HTTP %ld", status);
	else if (status >= 400 && status < 500 && status != 408 &&
	    status != 429)
		d = REFUSED, snprintf(why, len, "HTTP %ld", status);
	else
		d = TRY_LATER, snprintf(why, len, "HTTP %ld", status);
	curl->easy_cleanup(e);
	curl->slist_free_all(headers);
	curl->slist_free_all(connect_to);
	X509_STORE_free(ca);
	return d;
}

enum delivery
report_deliver(const struct mtasts_config *cfg, const struct report *r,
    const char *rua, char *why, size_t len)
{
	if (strncasecmp(rua, "mailto:", 7) == 0)
		return by_mail(cfg, r, rua, why, len);
	if (strncasecmp(rua, "https://", 8) == 0)
		return by_post(cfg, r, rua, why, len);
	return say(REFUSED, why, len, "unsupported scheme: ", rua);
}
