/* The CAs libgit2 trusts for https://. In libgit2 they are process-global (git_libgit2_opts
 * GIT_OPT_SET_SSL_CERT_LOCATIONS), and with Debian's mbedTLS build setting them replaces the
 * system bundle rather than adding to it. So a source with ca_file gets a bundle of its own made
 * of the system's CAs (SSL_CERT_FILE, else OpenSSL's default file) and ca_file; a source without
 * one gets the system's back. A fetch runs with its CAs in force: sources that want the CAs
 * already in force fetch side by side (a shared lock), one that needs them changed waits for the
 * others, changes them and fetches alone (the lock held exclusively), since the set cannot change
 * under a TLS handshake that is using it.
 *
 * (With an OpenSSL build of libgit2 the option adds locations and cannot take one back: there, a
 * ca_file stays trusted by every https source of the process once one source has used it.) */
#ifndef BERTH_SOURCE_TLS_H
#define BERTH_SOURCE_TLS_H
#include "core/error.h"

/* Puts ca_file's bundle (NULL: the system's) in force and holds it until source_tls_end.
 * tmp_dir is where the bundle is written for libgit2 to read (and removed again). 0, or EINVALID
 * (ca_file unreadable, or no certificate in it) / EFAILED without holding anything. */
int source_tls_begin(const char *ca_file, const char *tmp_dir, berth_error *err);
void source_tls_end(void);
/* libgit2 was initialised afresh (git_libgit2_init returned 1): its own defaults are back. */
void source_tls_reset(void);

#endif
