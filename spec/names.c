/* Naming rules of Docker and Azure, checked before any API sees the name. */
#include <ctype.h>
#include <string.h>

#include "spec_internal.h"

typedef struct {
	size_t min, max;
	const char *extra;    /* allowed characters besides letters and digits */
	bool lower_only;      /* no upper-case letters */
	bool no_double_hyphen; /* no "--" */
	bool first_alnum, last_alnum;
	bool first_letter;
	const char *describe;
} rule_def;

static const rule_def rules[] = {
	[NAME_OWNER] = {1, 63, "-", true, false, true, true, true,
			"1-63 lowercase letters, digits and hyphens, starting with a letter"},
	[NAME_DNS_LABEL] = {3, 63, "-", true, true, true, true, true,
			    "3-63 lowercase letters, digits and single hyphens, starting with a letter and not ending with a hyphen"},
	[NAME_AZURE_GROUP] = {3, 63, "-", true, true, true, true, false,
			      "3-63 lowercase letters, digits and single hyphens, not starting or ending with a hyphen"},
	[NAME_AZURE_CONTAINER] = {1, 63, "-", true, true, true, true, false,
				  "1-63 lowercase letters, digits and single hyphens, not starting or ending with a hyphen"},
	[NAME_SHARE] = {3, 63, "-", true, true, true, true, false,
			"3-63 lowercase letters, digits and single hyphens, not starting or ending with a hyphen"},
	[NAME_STORAGE_ACCOUNT] = {3, 24, "", true, false, true, true, false, "3-24 lowercase letters and digits"},
	[NAME_SCALE_SET] = {1, 64, "-_.", false, false, true, true, false,
			    "1-64 letters, digits, hyphens, underscores and periods, starting and ending with a letter or digit"},
	[NAME_TM_PROFILE] = {1, 63, "-", false, false, true, true, false,
			     "1-63 letters, digits and hyphens, not starting or ending with a hyphen"},
	[NAME_TM_ENDPOINT] = {1, 63, "-_.", false, false, true, true, false,
			      "1-63 letters, digits, hyphens, underscores and periods, starting and ending with a letter or digit"},
	[NAME_SWARM_SERVICE] = {1, 63, "-_", false, false, true, true, false,
				"1-63 letters, digits, hyphens and underscores, starting and ending with a letter or digit"},
	[NAME_SWARM_OBJECT] = {1, 63, "-_.", false, false, true, true, false,
			       "1-63 letters, digits, hyphens, underscores and periods, starting and ending with a letter or digit"},
	/* berth appends "-" and a 12-digit content hash, and Docker allows 64 characters. */
	[NAME_SWARM_SECRET] = {1, 51, "-_.", false, false, true, true, false,
			       "1-51 letters, digits, hyphens, underscores and periods, starting and ending with a letter or digit"},
	[NAME_RESOURCE_GROUP] = {1, 90, "-_.()", false, false, false, false, false,
				 "1-90 letters, digits, hyphens, underscores, periods and parentheses, not ending with a period"},
	[NAME_LOCATION] = {2, 40, "", true, false, true, true, true, "lowercase letters and digits, like westeurope"},
	[NAME_CG_VOLUME] = {1, 63, "-", true, true, true, true, false,
			    "1-63 lowercase letters, digits and single hyphens, not starting or ending with a hyphen"},
};

static bool char_ok(const rule_def *r, char ch)
{
	if (isdigit((unsigned char)ch))
		return true;
	if (islower((unsigned char)ch))
		return true;
	if (isupper((unsigned char)ch))
		return !r->lower_only;
	return ch && strchr(r->extra, ch) != NULL;
}

bool spec_check_name(spec_ctx *c, const ynode *at, name_rule rule, const char *what, const char *name)
{
	const rule_def *r = &rules[rule];
	size_t len = strlen(name);
	bool ok = len >= r->min && len <= r->max;
	for (size_t i = 0; ok && i < len; i++)
		ok = char_ok(r, name[i]);
	if (ok && r->first_alnum)
		ok = isalnum((unsigned char)name[0]);
	if (ok && r->first_letter)
		ok = isalpha((unsigned char)name[0]);
	if (ok && r->last_alnum)
		ok = isalnum((unsigned char)name[len - 1]);
	if (ok && r->no_double_hyphen)
		ok = strstr(name, "--") == NULL;
	if (ok && rule == NAME_RESOURCE_GROUP)
		ok = name[len - 1] != '.';
	if (!ok)
		spec_error_at(c, at, "invalid %s '%s': use %s", what, name, r->describe);
	return ok;
}
