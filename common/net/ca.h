/*
 * ca.h - the CA store that policy hosts' certificates must chain to, read
 * once per process and shared by every fetch (internal to libmtasts).
 */
#ifndef MTASTS_CA_H
#define MTASTS_CA_H

#include <openssl/x509.h>

#include "config.h"
#include "mtasts_core.h"

/*
 * Reads the store of cfg: ca_bundle (a PEM file) replaces the system's
 * bundle; ca_path adds a hashed directory; with neither, the system's
 * bundle (OpenSSL's default file, Debian's ca-certificates.crt) and
 * directory.  A store that cannot be read, or holds no certificate, is
 * MTASTS_ERR_TLS_SETUP: this host's fault, never the policy host's.
 * Returns a new store (X509_STORE_free), or NULL with err set.
 */
X509_STORE *ca_store_load(
    const struct mtasts_config *cfg, struct mtasts_error *err);

#endif
