/* tlsrpt_fold.h - folding the TLS-RPT spool into the store, for mtasts tlsrpt
 * (internal to libmtasts). */
#ifndef MTASTS_TLSRPT_FOLD_H
#define MTASTS_TLSRPT_FOLD_H

#include "mtasts.h"
#include "tlsrpt_store.h"

/*
 * Counts every session the spool files hold that the store has not, each
 * under its domain's policy (mtasts_lookup: the cache, or the network on a
 * miss), and removes the files of days before yesterday once counted
 * (deliveries write to the file of their own day only).
 */
mtasts_code tlsrpt_fold(struct mtasts_ctx *ctx, struct tlsrpt_store *store,
    const char *today, struct mtasts_error *err);

#endif
