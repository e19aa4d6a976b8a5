/*
 * ca.c - the CA store of the policy fetch.  Read once and handed to every
 * TLS handshake (curl would read the bundle for each transfer), and read
 * here so that a store that cannot be read is known for what it is: a
 * failure of this host, which must defer mail, not a policy host whose
 * certificate failed, which RFC 8461 §5 lets a sender deliver past.
 */
#include <dirent.h>
#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <string.h>

#include "ca.h"
#include "error.h"

static bool
load_file(X509_STORE *store, const char *file, struct mtasts_error *err)
{
	ERR_clear_error();
	if (X509_STORE_load_file(store, file) == 1 &&
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) > 0)
		return true;
	mtasts_error_set(err, MTASTS_ERR_TLS_SETUP,
	    "the CA bundle %s cannot be read or holds no certificate (%s)",
	    file, errno != 0 ? strerror(errno) : "no PEM certificate");
	ERR_clear_error();
	return false;
}

static bool
load_dir(X509_STORE *store, const char *dir, struct mtasts_error *err)
{
	DIR *d = opendir(dir);

	/* certificates in a hashed directory are read when needed: at
	 * least the directory must be there to read */
	if (d == NULL) {
		mtasts_error_set(err, MTASTS_ERR_TLS_SETUP,
		    "the CA directory %s cannot be read: %s", dir,
		    strerror(errno));
		return false;
	}
	closedir(d);
	if (X509_STORE_load_path(store, dir) != 1) {
		ERR_clear_error();
		mtasts_error_set(err, MTASTS_ERR_TLS_SETUP,
		    "the CA directory %s cannot be used", dir);
		return false;
	}
	return true;
}

X509_STORE *
ca_store_load(const struct mtasts_config *cfg, struct mtasts_error *err)
{
	X509_STORE *store = X509_STORE_new();
	bool ok;

	if (store == NULL) {
		mtasts_error_set(err, MTASTS_ERR_NOMEM, "out of memory");
		return NULL;
	}
	errno = 0;
	if (cfg->ca_bundle != NULL || cfg->ca_path != NULL)
		ok = (cfg->ca_bundle == NULL ||
		         load_file(store, cfg->ca_bundle, err)) &&
		    (cfg->ca_path == NULL || load_dir(store, cfg->ca_path, err));
	else
		ok = load_file(store, X509_get_default_cert_file(), err) &&
		    load_dir(store, X509_get_default_cert_dir(), err);
	if (!ok) {
		X509_STORE_free(store);
		return NULL;
	}
	/* as curl sets it: an intermediate in the store is an anchor too */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	return store;
}
