/*
 * fuzz_smtp_reply.c - the SMTP replies mtasts check reads from an MX host
 * and tlsrpt send from its relay (common/net/smtp_client.c, probe.c): when a
 * multi-line reply is whole and its code, the reply's text as a message
 * says it, and whether an EHLO reply offers STARTTLS.  The input is what
 * the server sent; the socket code sees it as it arrives, so a cut of it
 * is tried too: a reply whole in a prefix is the same reply in the whole
 * text.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "probe.h"
#include "smtp_client.h"

const char *const fuzz_words[] = {"250-", "250 ", "220 ", "\r\n", "STARTTLS",
    "starttls", "PIPELINING", "SIZE 1000", "550-5.1.1 ", "\xff", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	size_t cut = size > 0 ? (size_t)data[0] * size / 256 : 0;
	char said[64];
	bool whole, part;
	int code = 0, part_code = 0;
	char saved;

	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	whole = smtp_reply_complete(text, &code);
	if (whole)
		fuzz_assert(code >= 0 && code <= 999);
	/* printable, and within its buffer (the sanitizer build sees it) */
	smtp_reply_text(text, said, sizeof(said));
	for (size_t i = 0; said[i] != '\0'; i++)
		fuzz_assert(said[i] >= 0x20 && said[i] < 0x7f);
	if (probe_offers_starttls(text))
		fuzz_assert(strcasestr(text, "STARTTLS") != NULL);
	saved = text[cut];
	text[cut] = '\0';
	part = smtp_reply_complete(text, &part_code);
	if (part)
		fuzz_assert(whole && part_code == code);
	text[cut] = saved;
	free(text);
	return 0;
}
