/* The entry points of source.h: checks a configuration, copies it, and sends each fetch to the
 * kind it names (source_dir.c, source_git.c). It is not called source.c because a module is a
 * .c with its .h (tests/layers/): the kinds include source.h for its types, and source.c calling
 * them would make that a cycle; source.h is a module of its own, the interface, with no code. */
#include "source/source.h"
#include "source/source_internal.h"
#include "core/util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

int berth_source_open(const berth_source_config *cfg, berth_source **out, berth_error *err)
{
	*out = NULL;
	if (!cfg)
		return berth_error_set(err, BERTH_EINVALID, "no source configuration");
	berth_source *s = xcalloc(1, sizeof(*s));
	s->cancel = cfg->cancel;
	if (!cfg->repo) {
		/* Options that only mean something for git are refused rather than ignored: a
		 * verify_keys that checks nothing would be worse than none. */
		const char *opt = cfg->ref ? "ref" : cfg->verify_keys ? "verify_keys" : NULL;
		if (opt) {
			free(s);
			return berth_error_set(err, BERTH_EINVALID, "%s needs a git repository (repo); a directory has none", opt);
		}
		s->path = xstrdup(cfg->path && *cfg->path ? cfg->path : ".");
		*out = s;
		return 0;
	}
	s->git = true;
	int rc = source_git_open(s, cfg, err);
	if (rc) {
		berth_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

void berth_source_free(berth_source *s)
{
	if (!s)
		return;
	if (s->git)
		source_git_close(s);
	source_url_free(&s->url);
	if (s->password) {
		OPENSSL_cleanse(s->password, strlen(s->password));
		free(s->password);
	}
	free(s->path);
	free(s->ref);
	free(s->sha);
	free(s->cache_dir);
	free(s->username);
	free(s->ssh_key);
	free(s->known_hosts);
	free(s->ca_file);
	free(s->verify_keys);
	free(s);
}

int berth_source_fetch(berth_source *s, berth_revision *out, berth_error *err)
{
	memset(out, 0, sizeof(*out));
	if (berth_cancel_fired(s->cancel))
		return berth_error_set(err, BERTH_ECANCELED, "fetch of %s canceled", s->git ? s->url.shown : s->path);
	return s->git ? source_git_fetch(s, out, err) : source_dir_fetch(s, out, err);
}

void berth_revision_free(berth_revision *r)
{
	if (!r)
		return;
	free(r->revision);
	free(r->spec_path);
	free(r->repo);
	free(r->ref);
	free(r->signer);
	free(r->summary);
	free(r->author);
	memset(r, 0, sizeof(*r));
}
