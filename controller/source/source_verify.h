/* Commit signatures, checked with the tools git itself uses: `ssh-keygen -Y verify` against an SSH
 * allowed-signers file, `gpgv` against a GPG keyring. Which one is decided by the verify_keys
 * file's content, never by its name:
 *
 *   - an allowed-signers file (ssh-keygen(1) "ALLOWED SIGNERS"): every line that is not blank or
 *     a comment is "PRINCIPALS [OPTIONS] KEYTYPE BASE64", KEYTYPE one of OpenSSH's key types;
 *   - a GPG keyring: binary OpenPGP packets (gpg --export), a keybox (pubring.kbx), or the
 *     ASCII-armored export (gpg --export --armor), which is de-armored first since gpgv reads
 *     binary keyrings only.
 *
 * The tools run through posix_spawnp (no shell) in a private temporary directory, with the
 * signature and the signed payload (git_commit_extract_signature's two halves) in files; their
 * stderr goes into the message when a signature is refused. */
#ifndef BERTH_SOURCE_VERIFY_H
#define BERTH_SOURCE_VERIFY_H
#include <stddef.h>

#include "core/clock.h"
#include "core/error.h"

typedef enum source_keys_kind {
	SOURCE_KEYS_SSH,          /* an allowed-signers file */
	SOURCE_KEYS_GPG,          /* binary OpenPGP keyring or keybox */
	SOURCE_KEYS_GPG_ARMORED,  /* "-----BEGIN PGP PUBLIC KEY BLOCK-----" */
} source_keys_kind;

/* What buf (a verify_keys file's content) is. 0 and *kind, or -1 with *why (malloc'd; names the
 * first line that is not an allowed-signers line when the file looks like text). */
int source_keys_detect(const char *buf, size_t len, source_keys_kind *kind, char **why);

/* The armored blocks of buf decoded into one binary keyring (malloc'd, *out_len), or NULL. */
unsigned char *source_gpg_dearmor(const char *buf, size_t len, size_t *out_len);

typedef struct source_verify_input {
	const char *keys_file;  /* verify_keys, absolute */
	source_keys_kind kind;
	const char *sha;        /* the commit, for messages */
	const char *signature;  /* the commit's gpgsig header, as git_commit_extract_signature gives it */
	size_t signature_len;
	const char *payload;    /* the commit without it: what was signed */
	size_t payload_len;
	const char *tmp_parent; /* where the private temporary directory is made */
	berth_cancel *cancel;
} source_verify_input;

/* 0 with *signer (malloc'd: the principal, or the primary key's fingerprint), or EAUTH ("commit
 * SHA: bad signature: ..."), ECANCELED, EFAILED (a tool cannot run). */
int source_verify_commit(const source_verify_input *in, char **signer, berth_error *err);

#endif
