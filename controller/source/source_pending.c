/* Placeholder until the git source lands (being written in parallel): every fetch fails with a
 * clear error, so --repo is refused rather than silently ignored. */
#include <stdlib.h>
#include <string.h>

#include "core/util.h"
#include "source/source.h"

struct berth_source {
	int unused;
};

int berth_source_open(const berth_source_config *cfg, berth_source **out, berth_error *err)
{
	(void)cfg;
	*out = NULL;
	return berth_error_set(err, BERTH_EINVALID, "git sources are not available in this build");
}

void berth_source_free(berth_source *s)
{
	free(s);
}

int berth_source_fetch(berth_source *s, berth_revision *out, berth_error *err)
{
	(void)s;
	memset(out, 0, sizeof(*out));
	return berth_error_set(err, BERTH_EINVALID, "git sources are not available in this build");
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
	memset(r, 0, sizeof(*r));
}

char *berth_url_redact(const char *url)
{
	return xstrdup(url);
}
