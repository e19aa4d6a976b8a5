/* Unit tests of the configuration file (common/config.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "redis_soname.h" /* MTASTS_HIREDIS_SSL */
#include "mtasts.h"
#include "unit.h"

/* Loads len bytes of text as a configuration file; the error in err. */
static mtasts_code
load_bytes(const char *text, size_t len, struct mtasts_config **cfg,
    struct mtasts_error *err)
{
	char path[] = "/tmp/mtasts-config-XXXXXX";
	int fd = mkstemp(path);
	mtasts_code rc;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	rc = mtasts_config_load(path, cfg, err);
	unlink(path);
	return rc;
}

static mtasts_code
load(const char *text, struct mtasts_config **cfg, struct mtasts_error *err)
{
	return load_bytes(text, strlen(text), cfg, err);
}

START_TEST(defaults)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;

	ck_assert_int_eq(mtasts_config_load(NULL, &cfg, &err), MTASTS_OK);
	ck_assert_int_eq(cfg->txt_recheck, 900);
	ck_assert_str_eq(cfg->cache_dir, "/var/lib/mtasts");
	ck_assert_ptr_null(cfg->ca_bundle);
	/* mailto: reports by SMTP to the local MTA, no sendmail */
	ck_assert_str_eq(cfg->tlsrpt_relay, "127.0.0.1");
	ck_assert_int_eq(cfg->tlsrpt_relay_port, 25);
	ck_assert_ptr_null(cfg->sendmail);
	mtasts_config_free(cfg);
}
END_TEST

/* tlsrpt_relay = HOST[:PORT]: an IPv4 literal, or an IPv6 one in
 * brackets; anything else is refused at its line (a bare IPv6 address
 * with a port would read as another address). */
START_TEST(the_relay_is_an_address_and_a_port)
{
	static const struct {
		const char *value, *address;
		int port;
	} good[] = {
	    {"127.0.0.1", "127.0.0.1", 25},
	    {"127.0.0.2:2525", "127.0.0.2", 2525},
	    {"[::1]", "::1", 25},
	    {"[::1]:587", "::1", 587},
	    {"[2001:db8::25]:65535", "2001:db8::25", 65535},
	};
	static const char *bad[] = {"localhost", "localhost:25", "::1",
	    "::1:25", "[::1", "[::1]25", "[::1]:", "[]:25",
	    "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:25:26",
	    "127.0.0.1: 25", "127.0.0.1:+25", "127.0.0.1:x", "127.1",
	    "256.0.0.1", "[127.0.0.1]", "[fe80::1%eth0]:25", ":25",
	    "127.0.0.1 25"};
	char text[128];
	struct mtasts_config *cfg;
	struct mtasts_error err;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[mtasts]\ntlsrpt_relay = %s\n",
		    good[i].value);
		ck_assert_msg(load(text, &cfg, &err) == MTASTS_OK, "%s: %s",
		    good[i].value, err.message);
		ck_assert_str_eq(cfg->tlsrpt_relay, good[i].address);
		ck_assert_int_eq(cfg->tlsrpt_relay_port, good[i].port);
		ck_assert_ptr_null(cfg->sendmail);
		mtasts_config_free(cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text),
		    "[mtasts]\ntlsrpt = yes\ntlsrpt_relay = %s\n", bad[i]);
		ck_assert_msg(load(text, &cfg, &err) == MTASTS_ERR_CONFIG,
		    "accepted: %s", bad[i]);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(err.message,
		                  ":3: invalid value for "
		                  "tlsrpt_relay") != NULL,
		    "%s: %s", bad[i], err.message);
	}
}
END_TEST

/* sendmail = PATH sends mailto: reports through it instead; with
 * tlsrpt_relay too, which one is meant is not guessed: refused at the
 * second, whichever comes first. */
START_TEST(sendmail_or_the_relay_not_both)
{
	static const char *both[] = {
	    "[mtasts]\nsendmail = /usr/sbin/sendmail\ntlsrpt = yes\n"
	    "tlsrpt_relay = 127.0.0.1:25\n",
	    "[mtasts]\ntlsrpt_relay = [::1]\ntlsrpt = yes\n"
	    "sendmail = /usr/sbin/sendmail\n"};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	size_t i;

	ck_assert_int_eq(
	    load("[mtasts]\nsendmail = /usr/lib/sendmail\n", &cfg, &err),
	    MTASTS_OK);
	ck_assert_str_eq(cfg->sendmail, "/usr/lib/sendmail");
	mtasts_config_free(cfg);
	ck_assert_int_eq(load("[mtasts]\nsendmail = sendmail\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	for (i = 0; i < sizeof(both) / sizeof(both[0]); i++) {
		ck_assert_int_eq(load(both[i], &cfg, &err), MTASTS_ERR_CONFIG);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(err.message,
		                  ":4: sendmail and "
		                  "tlsrpt_relay are both "
		                  "given") != NULL,
		    "%s", err.message);
	}
}
END_TEST

START_TEST(a_named_file_must_be_read)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;

	/* never the defaults in its place */
	ck_assert_int_eq(mtasts_config_load("/nonexistent/mtasts.conf", &cfg,
	                     &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err.message, "/nonexistent/mtasts.conf"));
}
END_TEST

START_TEST(settings_and_overrides)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;
	const struct override *o;

	ck_assert_int_eq(load("[mtasts]\ndns_timeout = 2.5\ntxt_recheck = 0\n"
	                      "[domain B\xc3\xbc" "cher.example]\n"
	                      "mode = enforce\nmx = *.MX.Example.\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_int_eq(cfg->dns_timeout_ms, 2500);
	ck_assert_int_eq(cfg->txt_recheck, 0);
	/* the section named in Unicode is keyed by its A-labels */
	o = config_override(cfg, "xn--bcher-kva.example");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->mode, MTASTS_MODE_ENFORCE);
	ck_assert_str_eq(o->mx[0], "*.mx.example");
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(errors_name_the_line)
{
	static const char *bad[] = {"[mtasts]\nresolver = not an address\n",
	    "[mtasts]\nbogus = 1\n", "[other]\nx = 1\n",
	    "[mtasts]\ndns_timeout = -1\n", "[mtasts]\ncache_size = 0\n",
	    "[domain a.example]\nmx = x.example\n",
	    "[domain a.example]\nskip = yes\nmode = enforce\n",
	    /* one string in two lines: clang's -Wstring-concatenation */
	    ("[domain a.example]\nmode = enforce\n[domain A.example.]\n"
	     "mode = testing\n"),
	    "[domain a\xe2\x92\x88.example]\nmode = enforce\n"};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(load(bad[i], &cfg, &err), MTASTS_ERR_CONFIG);
		ck_assert_ptr_null(cfg);
		ck_assert_ptr_nonnull(strstr(err.message, "/tmp/mtasts-config-"));
	}
}
END_TEST

/* Indentation means nothing: an indented "key = value" is a setting of
 * its own, not the continuation of the line above (libinih's multi-line
 * values would read "mx = ..." as more of the value of mode). */
/* A store's backend is a name (its door says when no backend has it:
 * test_cache.c), never a store that quietly falls back to another. */
START_TEST(backends_are_named)
{
	struct mtasts_config *cfg;
	struct mtasts_error err = {0};

	ck_assert_int_eq(load("[mtasts]\ncache_backend = lmdb\n"
	                      "tlsrpt_backend = lmdb\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_str_eq(cfg->cache_backend, "lmdb");
	ck_assert_str_eq(cfg->tlsrpt_backend, "lmdb");
	mtasts_config_free(cfg);
	ck_assert_int_eq(load("[mtasts]\ncache_backend = LMDB x\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "cache_backend"));
	ck_assert_int_eq(
	    load("[mtasts]\ntlsrpt_backend = ../x\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_int_eq(load("[mtasts]\ntlsrpt_backend =\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
}
END_TEST

START_TEST(indentation_is_ignored)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;
	const struct override *o;

	ck_assert_int_eq(load("[mtasts]\n  dns_timeout = 2\n\ttxt_recheck = 5\n"
	                      "[domain a.example]\n  mode = enforce\n"
	                      "  mx = mx1.a.example\n  mx = mx2.a.example\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_int_eq(cfg->dns_timeout_ms, 2000);
	ck_assert_int_eq(cfg->txt_recheck, 5);
	o = config_override(cfg, "a.example");
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->mode, MTASTS_MODE_ENFORCE);
	ck_assert_str_eq(o->mx[0], "mx1.a.example");
	ck_assert_str_eq(o->mx[1], "mx2.a.example");
	mtasts_config_free(cfg);
}
END_TEST

/* A value cannot go on to the next line: an indented line that is not a
 * setting is refused, not added to the mx patterns above it. */
START_TEST(no_value_continues_on_the_next_line)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;

	ck_assert_int_eq(load("[domain a.example]\nmode = enforce\n"
	                      "mx = mx1.a.example\n   *.evil.example\n",
	                     &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err.message, ":4: "));
}
END_TEST

/* A line longer than libinih's buffer is refused as such, at its number
 * (libinih would cut it in two and complain of a second line). */
START_TEST(a_long_line_is_refused_as_such)
{
	char text[600];
	struct mtasts_config *cfg;
	struct mtasts_error err;

	snprintf(text, sizeof(text),
	    "[mtasts]\n; a comment\nproxy = http://%0300d.example:3128\n"
	    "txt_recheck = 5\n",
	    0);
	ck_assert_int_eq(load(text, &cfg, &err), MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err.message, ":3: "));
	ck_assert_ptr_nonnull(strstr(err.message, "longer than"));
}
END_TEST

/* A NUL byte ends the line for libinih, which would read the rest as a
 * line of its own: refused at its line. */
START_TEST(a_nul_byte_is_refused)
{
	static const char text[] = "[mtasts]\ntxt_recheck = 5\0mx = x\n";
	struct mtasts_config *cfg;
	struct mtasts_error err;

	ck_assert_int_eq(load_bytes(text, sizeof(text) - 1, &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err.message, ":2: "));
	ck_assert_ptr_nonnull(strstr(err.message, "NUL"));
}
END_TEST

/* A domain's mode or skip given twice is a contradiction, not "the last
 * one wins": a second mode = none under mode = enforce would silently
 * take the domain's protection away. */
START_TEST(a_domain_setting_given_twice_is_refused)
{
	static const char *twice[] = {
	    "[domain a.example]\nmode = enforce\nmx = mx1.a.example\n"
	    "mode = none\n",
	    "[domain a.example]\nskip = no\nmx = mx1.a.example\nskip = yes\n"};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	size_t i;

	for (i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
		ck_assert_int_eq(load(twice[i], &cfg, &err), MTASTS_ERR_CONFIG);
		ck_assert_ptr_null(cfg);
		ck_assert_ptr_nonnull(strstr(err.message, ":4: "));
		ck_assert_ptr_nonnull(strstr(err.message, "twice"));
	}
}
END_TEST

/* What libinih alone would read differently from what it looks like,
 * each refused at its line: a line indented with other white space (a
 * continuation for libinih), a domain's section given twice (merged), a
 * setting given twice (the last one won), text after a section's "]", a
 * section that is not ours even without settings. */
START_TEST(what_looks_different_is_refused)
{
	static const struct {
		const char *text;
		const char *line;
	} bad[] = {
	    {"[domain a.example]\nmode = enforce\nmx = mx.a.example\n"
	     "\f*.evil.example\n",
	        ":4: "},
	    {"[mtasts]\nca_bundle = /good.pem\n\v/evil.pem\n", ":3: "},
	    {"[mtasts]\nca_bundle = /good.pem\n\r /evil.pem\n", ":3: "},
	    {"[domain a.example]\nmode = enforce\nmx = mx.a.example\n"
	     "[mtasts]\n[domain a.example]\nmx = *.evil.example\n",
	        ":6: "},
	    {"[mtasts]\nresolver = recursive\ntxt_recheck = 5\n"
	     "resolver = system\n",
	        ":4: "},
	    {"[mtasts]\nproxy = http://a.example:3128\n[domain a.example]\n"
	     "skip = yes\n[mtasts]\nproxy = http://b.example:3128\n",
	        ":6: "},
	    {"[mtasts] junk\ntxt_recheck = 5\n", ":1: "},
	    {"[mtasts]\ntxt_recheck = 5\n[bogus]\n", ":3: "},
	    /* what a terminal does not show: cat prints the comment over
	     * the setting */
	    {"[domain a.example]\nmode = none ;\r# enforced by its policy\n",
	        ":2: "},
	    {"[domain a.example]\nmode = enforce\n"
	     "mx = mx.a.example ;\x1b[1A\x1b[2K\n",
	        ":3: "},
	    {"\xef\xbb\xbf[mtasts] junk\n[domain a.example]\nskip = yes\n",
	        ":1: "},
	    {"[mtasts]\nproxy =\n", ":2: "},
	    {"[mtasts]\n[domain not..valid]\n", ":2: "},
	    /* the first error is named, with its own message */
	    {"[domain a.example]\nmode = enforce\nmx = mx.a.example\n"
	     "[domain b.example\nmode = none\n",
	        ":4: not a"},
	};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(load(bad[i].text, &cfg, &err) == MTASTS_ERR_CONFIG,
		    "accepted: %s", bad[i].text);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(err.message, bad[i].line) != NULL,
		    "%s: %s", bad[i].text, err.message);
	}
}
END_TEST

/* A domain's section takes a name of any length a domain may have
 * (libinih keeps 49 bytes of a section's name: the override went to a
 * shorter, other domain); lists may be given more than once. */
START_TEST(a_long_domain_keeps_its_section)
{
	static const char *name =
	    "subsidiary-with-quite-a-long-name.example.com.au";
	char text[512];
	struct mtasts_config *cfg;
	struct mtasts_error err;
	const struct override *o;

	snprintf(text, sizeof(text),
	    "[mtasts]\nconnect_to = a.example:443::1\n"
	    "connect_to = b.example:443::2\n[domain %s]\nmode = enforce\n"
	    "mx = mx1.a.example\nmx = mx2.a.example\n",
	    name);
	ck_assert_int_eq(load(text, &cfg, &err), MTASTS_OK);
	ck_assert_int_eq(cfg->connect_to_count, 2);
	ck_assert_ptr_null(
	    config_override(cfg, "subsidiary-with-quite-a-long-name.example"));
	o = config_override(cfg, name);
	ck_assert_ptr_nonnull(o);
	ck_assert_int_eq(o->mx_count, 2);
	mtasts_config_free(cfg);
}
END_TEST

/* A file that cannot be read to its end is an error, not the defaults
 * (fopen() of a directory succeeds; reading it fails), and a FIFO
 * nobody writes is refused at once, not waited on by every delivery. */
START_TEST(an_unreadable_file_is_an_error)
{
	char dir[] = "/tmp/mtasts-config-fifo-XXXXXX", fifo[64];
	struct mtasts_config *cfg;
	struct mtasts_error err;

	ck_assert_int_eq(mtasts_config_load("/tmp", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	ck_assert_ptr_nonnull(strstr(err.message, "/tmp"));
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/f", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	ck_assert_int_eq(
	    mtasts_config_load(fifo, &cfg, &err), MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(cfg);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

/* What reads as written: a UTF-8 BOM, CRLF lines. */
/* What an accident leaves of the file reads as no configuration: emptied,
 * comments only, a BOM only, overrides without the [mtasts] section (the
 * head lost), or cut inside a line (a write that did not finish): each
 * refused, as a missing file is, never "the defaults and no override". */
START_TEST(an_emptied_or_cut_file_is_refused)
{
	static const struct {
		const char *text, *says;
	} cases[] = {
	    {"", "no [mtasts] section"},
	    {"\n\n   \n", "no [mtasts] section"},
	    {"; mtasts.conf\n# nothing else\n", "no [mtasts] section"},
	    {"\xef\xbb\xbf", "no [mtasts] section"},
	    {"[domain partner.example]\nmode = enforce\n", "no [mtasts] section"},
	    {"[mtasts]\ntxt_recheck = 5\n[domain partner.example]\nmode = enforce\nmx = mx.partn",
	        ":5: the file ends inside this line"},
	    {"[mtasts]", ":1: the file ends inside this line"},
	};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_int_eq(load(cases[i].text, &cfg, &err), MTASTS_ERR_CONFIG);
		ck_assert_ptr_null(cfg);
		ck_assert_msg(strstr(err.message, cases[i].says) != NULL,
		    "case %zu: %s", i, err.message);
	}
	/* the least a configuration is */
	ck_assert_int_eq(load("[mtasts]\n", &cfg, &err), MTASTS_OK);
	mtasts_config_free(cfg);
}
END_TEST

START_TEST(a_bom_and_crlf_are_read)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;

	ck_assert_int_eq(load("\xef\xbb\xbf[mtasts]\r\ntxt_recheck = 5\r\n"
	                      "[domain a.example]\r\nskip = yes\r\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_int_eq(cfg->txt_recheck, 5);
	ck_assert_ptr_nonnull(config_override(cfg, "a.example"));
	mtasts_config_free(cfg);
}
END_TEST

/* A program built against another layout of the public structures is
 * refused a context rather than have the library write past them. */
START_TEST(another_abi_gets_no_context)
{
	struct mtasts_config *cfg;
	struct mtasts_ctx *ctx;
	struct mtasts_error err;

	ck_assert(mtasts_abi_ok());
	ck_assert(!mtasts_abi_check(MTASTS_ABI + 1, MTASTS_LAYOUT));
	ck_assert_int_eq(mtasts_config_load(NULL, &cfg, &err), MTASTS_OK);
	ck_assert_int_eq(mtasts_ctx_new_abi(MTASTS_ABI, MTASTS_LAYOUT - 8, cfg,
			     &ctx, &err),
	    MTASTS_ERR_USAGE);
	ck_assert_ptr_null(ctx);
	ck_assert_ptr_nonnull(strstr(err.message, "rebuild"));
	ck_assert_int_eq(mtasts_ctx_new_abi(MTASTS_ABI + 1, MTASTS_LAYOUT, cfg,
			     &ctx, &err),
	    MTASTS_ERR_USAGE);
	ck_assert_int_eq(mtasts_ctx_new(cfg, &ctx, &err), MTASTS_OK);
	mtasts_ctx_free(ctx);
	mtasts_config_free(cfg);
}
END_TEST

/* fleet = redis://HOST[:PORT][/DB] or redis+unix:///PATH: without it,
 * nothing of the fleet is set. */
START_TEST(the_fleet_is_a_redis_url)
{
	static const struct {
		const char *value, *host, *socket;
		int port, db;
	} good[] = {
	    {"redis://10.0.0.5", "10.0.0.5", NULL, 6379, 0},
	    {"redis://redis.example:6380/3", "redis.example", NULL, 6380, 3},
	    {"redis://[::1]:7000", "::1", NULL, 7000, 0},
	    {"redis://h/", "h", NULL, 6379, 0},
	    {"redis+unix:///run/redis/redis.sock", NULL,
	        "/run/redis/redis.sock", 0, 0},
	    {"redis+unix:///run/r.sock?db=2", NULL, "/run/r.sock", 0, 2},
	};
	static const char *const bad[] = {"redis://", "redis://h:0",
	    "redis://h:65536", "redis://h:x", "redis://h/x", "redis://h/1/2",
	    "redis://[::1", "redis://h_h", "http://h", "redis+unix://rel",
	    "redis+unix:///", "redis+unix:///s?db=", "redis+unix:///s?x=1"};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	char text[256];
	size_t i;

	ck_assert_int_eq(mtasts_config_load(NULL, &cfg, &err), MTASTS_OK);
	ck_assert_int_eq(cfg->fleet, FLEET_NONE);
	ck_assert_str_eq(cfg->fleet_name, "mtasts");
	ck_assert(!cfg->fleet_strict);
	ck_assert_int_eq(cfg->fleet_timeout_ms, 1000);
	mtasts_config_free(cfg);
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "[mtasts]\nfleet = %s\n",
		    good[i].value);
		ck_assert_msg(load(text, &cfg, &err) == MTASTS_OK, "%s: %s",
		    good[i].value, err.message);
		ck_assert_int_eq(
		    cfg->fleet, good[i].host != NULL ? FLEET_TCP : FLEET_UNIX);
		if (good[i].host != NULL) {
			ck_assert_str_eq(cfg->fleet_host, good[i].host);
			ck_assert_int_eq(cfg->fleet_port, good[i].port);
		} else {
			ck_assert_str_eq(cfg->fleet_socket, good[i].socket);
		}
		ck_assert_int_eq(cfg->fleet_db, good[i].db);
		mtasts_config_free(cfg);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[mtasts]\nfleet = %s\n", bad[i]);
		ck_assert_msg(load(text, &cfg, &err) == MTASTS_ERR_CONFIG,
		    "%s taken", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.message, ":2: invalid value "
		                                          "for fleet"));
	}
}
END_TEST

/* fleet = redis-sentinel://H1[:P1],H2[:P2]/MASTER: the sentinels in
 * their order, Sentinel's port by default, IPv6 in brackets. */
START_TEST(the_fleet_may_be_found_through_sentinels)
{
	static const char *const bad[] = {"redis-sentinel://",
	    "redis-sentinel://h", "redis-sentinel://h/", "redis-sentinel:///m",
	    "redis-sentinel://h,/m", "redis-sentinel://,h/m",
	    "redis-sentinel://h:0/m", "redis-sentinel://h:65536/m",
	    "redis-sentinel://h:/m", "redis-sentinel://[::1/m",
	    "redis-sentinel://[zz]/m", "redis-sentinel://h_h/m",
	    "redis-sentinel://h/m/0", "redis-sentinel://h/m:x",
	    "redis-sentinel://h/m x", "redis-sentinel://1,2,3,4,5,6,7,8,9/m",
	    "redis-sentinel://h/"
	    "m123456789012345678901234567890123456789012345678901234567890"
	    "12345"};
	struct mtasts_config *cfg;
	struct mtasts_error err;
	char text[256];
	size_t i;

	ck_assert_int_eq(load("[mtasts]\nfleet = "
	                      "redis-sentinel://s1.example,[::1]:26380,"
	                      "127.0.0.7:5000/my-master.1\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_int_eq(cfg->fleet, FLEET_SENTINEL);
	ck_assert_uint_eq(cfg->fleet_sentinels, 3);
	ck_assert_str_eq(cfg->fleet_sentinel_host[0], "s1.example");
	ck_assert_int_eq(cfg->fleet_sentinel_port[0], 26379);
	ck_assert_str_eq(cfg->fleet_sentinel_host[1], "::1");
	ck_assert_int_eq(cfg->fleet_sentinel_port[1], 26380);
	ck_assert_str_eq(cfg->fleet_sentinel_host[2], "127.0.0.7");
	ck_assert_int_eq(cfg->fleet_sentinel_port[2], 5000);
	ck_assert_str_eq(cfg->fleet_master, "my-master.1");
	ck_assert_ptr_null(cfg->fleet_sentinel_password_file);
	mtasts_config_free(cfg);
	ck_assert_int_eq(load("[mtasts]\nfleet = redis-sentinel://s/m\n"
	                      "fleet_sentinel_password_file = /etc/s\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_str_eq(cfg->fleet_sentinel_password_file, "/etc/s");
	mtasts_config_free(cfg);
	ck_assert_int_eq(load("[mtasts]\nfleet_sentinel_password_file = s\n",
	                     &cfg, &err),
	    MTASTS_ERR_CONFIG);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "[mtasts]\nfleet = %s\n", bad[i]);
		ck_assert_msg(load(text, &cfg, &err) == MTASTS_ERR_CONFIG,
		    "%s taken", bad[i]);
		ck_assert_ptr_nonnull(strstr(err.message, "redis-sentinel://"));
	}
}
END_TEST

/* A password is never said back, not even one put in the URL; TLS is
 * refused by name, not taken for a host. */
START_TEST(the_fleet_never_says_a_password)
{
	struct mtasts_config *cfg;
	struct mtasts_error err;

	ck_assert_int_eq(load("[mtasts]\nfleet = redis://:s3cret@h:6379\n",
	                     &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(strstr(err.message, "s3cret"));
	ck_assert_ptr_nonnull(strstr(err.message, "fleet_password_file"));
	ck_assert_int_eq(
	    load("[mtasts]\nfleet = redis://h:x?s3cret\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_null(strstr(err.message, "s3cret"));
#ifdef MTASTS_HIREDIS_SSL
	ck_assert_int_eq(load("[mtasts]\nfleet = rediss://h:6380/2\n"
	                      "fleet_ca_file = /etc/ca.pem\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert(cfg->fleet == FLEET_TCP && cfg->fleet_tls);
	ck_assert_int_eq(cfg->fleet_port, 6380);
	ck_assert_int_eq(cfg->fleet_db, 2);
	ck_assert_str_eq(cfg->fleet_ca_file, "/etc/ca.pem");
	mtasts_config_free(cfg);
#else
	/* never a cleartext connection instead */
	ck_assert_int_eq(
	    load("[mtasts]\nfleet = rediss://h\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_ptr_nonnull(strstr(err.message, "has no TLS (Debian 12)"));
#endif
	ck_assert_int_eq(
	    load("[mtasts]\nfleet_ca_file = ca.pem\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_int_eq(load("[mtasts]\nfleet = redis://h\nfleet_name = "
	                      "mx-eu.1\nfleet_password_file = /etc/f\n"
	                      "fleet_strict = yes\nfleet_timeout = 0.25\n",
	                     &cfg, &err),
	    MTASTS_OK);
	ck_assert_str_eq(cfg->fleet_name, "mx-eu.1");
	ck_assert_str_eq(cfg->fleet_password_file, "/etc/f");
	ck_assert(cfg->fleet_strict);
	ck_assert_int_eq(cfg->fleet_timeout_ms, 250);
	mtasts_config_free(cfg);
	ck_assert_int_eq(load("[mtasts]\nfleet_name = a:b\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
	ck_assert_int_eq(
	    load("[mtasts]\nfleet_password_file = rel\n", &cfg, &err),
	    MTASTS_ERR_CONFIG);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, defaults);
	tcase_add_test(tc, the_relay_is_an_address_and_a_port);
	tcase_add_test(tc, sendmail_or_the_relay_not_both);
	tcase_add_test(tc, a_named_file_must_be_read);
	tcase_add_test(tc, settings_and_overrides);
	tcase_add_test(tc, backends_are_named);
	tcase_add_test(tc, indentation_is_ignored);
	tcase_add_test(tc, no_value_continues_on_the_next_line);
	tcase_add_test(tc, a_long_line_is_refused_as_such);
	tcase_add_test(tc, a_nul_byte_is_refused);
	tcase_add_test(tc, a_domain_setting_given_twice_is_refused);
	tcase_add_test(tc, what_looks_different_is_refused);
	tcase_add_test(tc, a_long_domain_keeps_its_section);
	tcase_add_test(tc, an_unreadable_file_is_an_error);
	tcase_add_test(tc, a_bom_and_crlf_are_read);
	tcase_add_test(tc, an_emptied_or_cut_file_is_refused);
	tcase_add_test(tc, errors_name_the_line);
	tcase_add_test(tc, another_abi_gets_no_context);
	tcase_add_test(tc, the_fleet_is_a_redis_url);
	tcase_add_test(tc, the_fleet_never_says_a_password);
	tcase_add_test(tc, the_fleet_may_be_found_through_sentinels);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
