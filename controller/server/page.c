/* The status page (page.h): HTML drawn from the /status JSON, one section per thing it shows.
 * Written to a memory stream; every string from the status goes through put_text (escaped),
 * and numbers through printf. Every table is a struct table (headers and a row writer) that
 * put_table draws. No script: the page reloads itself by a meta refresh, and a weight's bar is
 * a <meter> of its share of the profile's (or the rollout's) total. */
#include "server/page.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/util.h"

static const char style[] =
	"body{font:14px/1.4 system-ui,sans-serif;margin:1em 2em;color:#222;background:#fafafa}"
	"h1{font-size:1.4em;margin:.2em 0}h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}"
	"table{border-collapse:collapse;margin:.3em 0}td,th{padding:2px 8px;text-align:left;border-bottom:1px solid #e4e4e4;vertical-align:top}"
	"th{background:#eee}code{font:12px monospace}"
	".ok,.st-success,.st-done,.st-running,.st-Running,.st-Succeeded,.st-succeeded,.st-Online,.st-ready,.st-Enabled{color:#176f2c}"
	".bad,.st-failure,.st-failed,.st-Failed,.st-rejected,.st-Degraded,.st-down,.st-rolling_back,.st-not_ready,.st-Terminated{color:#b00020;font-weight:bold}"
	"meter{width:200px;height:14px;vertical-align:middle}"
	".err{background:#fde8e8;border-left:4px solid #b00020;padding:4px 8px;margin:4px 0;white-space:pre-wrap}"
	".map{display:flex;gap:10px;align-items:flex-start;flex-wrap:wrap}"
	".node{border:1px solid #999;background:#fff;min-width:160px;padding:4px}"
	".node h3{font-size:1em;margin:0 0 4px;padding:2px 4px;background:#334;color:#fff}"
	".task{border:1px solid #aaa;border-radius:3px;margin:3px 0;padding:2px 4px;background:#e6f4ea}"
	".task.fail{background:#fde8e8}.task.wait{background:#fff6d6}"
	".muted{color:#777}";

/* A stream into *buf (malloc'd at fclose, the caller frees it); out of memory aborts, as xmalloc does. */
static FILE *mem_open(char **buf, size_t *len)
{
	*buf = NULL;
	*len = 0;
	FILE *f = open_memstream(buf, len);
	if (!f)
		abort();
	return f;
}

/* ---- escaping ---- */

static void put_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&#39;", f); break;
		default: fputc(*s, f);
		}
	}
}

char *page_escape(const char *s)
{
	char *out;
	size_t len;
	FILE *f = mem_open(&out, &len);
	put_text(f, s);
	fclose(f);
	return out;
}

/* ---- reading the status ---- */

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static long long num(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) ? (long long)json_integer_value(v) : json_is_real(v) ? (long long)json_real_value(v) : 0;
}

/* A value's text in a cell (strings escaped, numbers as they are, null as "-"). */
static void put_value(FILE *f, json_t *v)
{
	if (json_is_string(v))
		put_text(f, json_string_value(v));
	else if (json_is_integer(v))
		fprintf(f, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		fprintf(f, "%.3f", json_real_value(v));
	else if (json_is_boolean(v))
		fputs(json_is_true(v) ? "yes" : "no", f);
	else
		fputs("<span class=\"muted\">-</span>", f);
}

/* <span class="st-STATE">STATE</span>: the state's class colours it; in the class, anything but
 * a letter or a digit becomes '_', so that no state ("not ready", a hostile one) can take a
 * class of the page's own. */
static void put_state(FILE *f, const char *state)
{
	if (!state) {
		fputs("<span class=\"muted\">-</span>", f);
		return;
	}
	fputs("<span class=\"st-", f);
	for (const char *c = state; *c; c++)
		fputc((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ? *c : '_', f);
	fputs("\">", f);
	put_text(f, state);
	fputs("</span>", f);
}

static void put_bar(FILE *f, long long part, long long whole)
{
	int pct = whole > 0 ? (int)(part * 100 / whole) : 0;
	if (pct < 0)
		pct = 0;
	if (pct > 100)
		pct = 100;
	fprintf(f, "<meter min=\"0\" max=\"100\" value=\"%d\" title=\"%d%%\">%d%%</meter> %d%%", pct, pct, pct, pct);
}

static void put_time(FILE *f, long long t)
{
	time_t s = (time_t)t;
	struct tm tm;
	gmtime_r(&s, &tm);
	fprintf(f, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		tm.tm_sec);
}

/* The status's resources of one kind, in order. */
static size_t count_kind(json_t *list, const char *kind)
{
	size_t n = 0, i;
	json_t *e;
	json_array_foreach(list, i, e) {
		const char *k = str(e, "kind");
		n += k && !strcmp(k, kind);
	}
	return n;
}

#define foreach_kind(list, kind, i, e)                                                                                 \
	json_array_foreach(list, i, e)                                                                                 \
		if (!str(e, "kind") || strcmp(str(e, "kind"), kind)) {                                                 \
		} else

/* ---- tables ---- */

/* One row's cells (each a <td>…</td>) for the element e; ctx is what the table's section hands
 * put_table (a weight total, the resources), or NULL. */
typedef void row_fn(FILE *f, json_t *e, void *ctx);

/* A table of the page: its <table> tag's attributes, its column headers (page literals, not
 * escaped; up to the first NULL) and the writer of its rows. */
struct table {
	const char *attrs;
	const char *heads[8];
	row_fn *row;
};

/* The table t with a row per element of rows (only those of kind kind when kind is not NULL);
 * rows that is no array gives a table of headers only. */
static void put_table(FILE *f, const struct table *t, json_t *rows, const char *kind, void *ctx)
{
	fprintf(f, "<table %s><tr>", t->attrs);
	for (size_t h = 0; h < sizeof(t->heads) / sizeof(t->heads[0]) && t->heads[h]; h++)
		fprintf(f, "<th>%s</th>", t->heads[h]);
	fputs("</tr>\n", f);
	size_t i;
	json_t *e;
	json_array_foreach(rows, i, e) {
		const char *k = str(e, "kind");
		if (kind && (!k || strcmp(k, kind)))
			continue;
		fputs("<tr>", f);
		t->row(f, e, ctx);
		fputs("</tr>\n", f);
	}
	fputs("</table>\n", f);
}

/* A section that is one table of the resources of one kind, under the heading title; none of
 * that kind, no section. The rows get the resources as their ctx. */
static void kind_section(FILE *f, json_t *res, const char *kind, const char *title, const struct table *t)
{
	if (!count_kind(res, kind))
		return;
	fprintf(f, "<h2>%s</h2>\n", title);
	put_table(f, t, res, kind, res);
}

/* Cells: text (escaped), text as code, a value (put_value), a state (put_state). */
static void cell_text(FILE *f, const char *s)
{
	fputs("<td>", f);
	put_text(f, s);
	fputs("</td>", f);
}

static void cell_code(FILE *f, const char *s)
{
	fputs("<td><code>", f);
	put_text(f, s);
	fputs("</code></td>", f);
}

static void cell_value(FILE *f, json_t *v)
{
	fputs("<td>", f);
	put_value(f, v);
	fputs("</td>", f);
}

static void cell_state(FILE *f, const char *state)
{
	fputs("<td>", f);
	put_state(f, state);
	fputs("</td>", f);
}

/* The sum of the "weight"s of list's elements: the whole that put_bar draws a share of. */
static long long sum_weights(json_t *list)
{
	long long total = 0;
	size_t i;
	json_t *e;
	json_array_foreach(list, i, e)
		total += num(e, "weight");
	return total;
}

/* After a resource the status lists but the cloud does not have yet. */
static void put_not_created(FILE *f, json_t *r)
{
	if (!json_is_true(json_object_get(r, "exists")))
		fputs(" <span class=\"muted\">(not created)</span>", f);
}

/* ---- sections ---- */

/* A row of the source table: the label, and the value as code. */
static void source_row(FILE *f, const char *label, json_t *v)
{
	fprintf(f, "<tr><th>%s</th><td><code>", label);
	put_value(f, v);
	fputs("</code></td></tr>", f);
}

static void source_section(FILE *f, json_t *st)
{
	json_t *src = json_object_get(st, "source"), *commit = json_object_get(st, "commit");
	fputs("<table id=\"source\">", f);
	if (str(src, "repo")) {
		fputs("<tr><th>repository</th><td><code>", f);
		put_text(f, str(src, "repo"));
		fputs("</code> ref <code>", f);
		put_text(f, str(src, "ref"));
		fputs("</code></td></tr>", f);
	}
	source_row(f, "path", json_object_get(src, "path"));
	source_row(f, "fetched", json_object_get(st, "fetched_revision"));
	source_row(f, "applied", json_object_get(st, "applied_revision"));
	if (str(commit, "summary")) {
		fputs("<tr><th>commit</th><td id=\"commit\">", f);
		put_text(f, str(commit, "summary"));
		if (str(commit, "author")) {
			fputs(" <span class=\"muted\">by ", f);
			put_text(f, str(commit, "author"));
			if (num(commit, "time")) {
				fputs(", ", f);
				put_time(f, num(commit, "time"));
			}
			fputs("</span>", f);
		}
		fputs("</td></tr>", f);
	}
	json_t *leader = json_object_get(st, "leader");
	if (json_is_string(leader) || json_is_object(leader)) {
		fputs("<tr><th>leader</th><td>", f);
		put_value(f, json_is_object(leader) ? json_object_get(leader, "instance") : leader);
		fputs("</td></tr>", f);
	}
	fputs("<tr><th>ready</th><td>", f);
	put_state(f, json_is_true(json_object_get(st, "ready")) ? "ready" : "not ready");
	fputs("</td></tr></table>\n", f);
}

/* One failure: "WHAT NAME: WHY", and ": MORE" when there is more (all escaped). */
static void put_failure(FILE *f, const char *what, const char *name, const char *why, const char *more)
{
	fputs("<div class=\"err\">", f);
	put_text(f, what);
	fputs(" ", f);
	put_text(f, name);
	fputs(": ", f);
	put_text(f, why);
	if (more) {
		fputs(": ", f);
		put_text(f, more);
	}
	fputs("</div>\n", f);
}

/* Everything that failed, in one place at the top: the last reconcile's error and diagnostics,
 * failed steps, services that do not converge, rollouts rolled back. */
static void failures_section(FILE *f, json_t *st)
{
	char *buf;
	size_t len;
	FILE *g = mem_open(&buf, &len);
	json_t *last = json_object_get(st, "last_reconcile");
	if (str(last, "error")) {
		fputs("<div class=\"err\">last reconcile: ", g);
		put_text(g, str(last, "error"));
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(last, "diagnostics"), i, d) {
			fputs("\n", g);
			put_text(g, json_string_value(d));
		}
		fputs("</div>\n", g);
	}
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(json_object_get(st, "last_change"), "steps"), i, s)
		if (str(s, "error") && str(s, "status") && !strcmp(str(s, "status"), "failed"))
			put_failure(g, str(s, "kind"), str(s, "name"), str(s, "error"), NULL);
	json_t *res = json_object_get(st, "resources");
	foreach_kind(res, "swarm_service", i, s) if (str(s, "problem"))
		put_failure(g, "service", str(s, "name"), str(s, "problem"), NULL);
	json_array_foreach(json_object_get(st, "rollouts"), i, s) {
		const char *phase = str(s, "phase");
		if (phase && (!strcmp(phase, "failed") || !strcmp(phase, "rolling_back")))
			put_failure(g, "rollout", str(s, "group"), phase, str(s, "reason"));
	}
	fclose(g);
	fputs("<h2>Failures</h2>\n<div id=\"failures\">", f);
	fputs(len ? buf : "<p class=\"muted\">none</p>", f);
	fputs("</div>\n", f);
	free(buf);
}

static void reconcile_row(FILE *f, json_t *e, void *ctx)
{
	cell_value(f, json_object_get(e, "time"));
	fputs("<td><code>", f);
	const char *rev = str(e, "revision");
	if (rev && strlen(rev) == 40) {
		char short_rev[13];
		memcpy(short_rev, rev, 12);
		short_rev[12] = '\0';
		put_text(f, short_rev);
	} else {
		put_value(f, json_object_get(e, "revision"));
	}
	fputs("</code></td>", f);
	cell_state(f, str(e, "result"));
	json_t *d = json_object_get(e, "duration_seconds");
	fprintf(f, "<td>%.2f s</td>", json_is_number(d) ? json_number_value(d) : 0.0);
	cell_text(f, str(e, "error"));
}

static const struct table reconcile_table = {
	"id=\"reconciles\"", {"time", "revision", "result", "duration", "error"}, reconcile_row};

static void reconciles_section(FILE *f, json_t *st)
{
	json_t *h = json_object_get(st, "history");
	fputs("<h2>Last reconciles</h2>\n", f);
	if (!json_array_size(h)) {
		fputs("<p class=\"muted\">none yet</p>\n", f);
		return;
	}
	put_table(f, &reconcile_table, h, NULL, NULL);
}

static void step_row(FILE *f, json_t *s, void *ctx)
{
	cell_value(f, json_object_get(s, "action"));
	cell_value(f, json_object_get(s, "kind"));
	cell_value(f, json_object_get(s, "name"));
	cell_value(f, json_object_get(s, "reason"));
	cell_state(f, str(s, "status"));
}

static const struct table plan_table = {"id=\"plan\"", {"action", "kind", "name", "reason", "result"}, step_row};

static void plan_section(FILE *f, json_t *st)
{
	json_t *lc = json_object_get(st, "last_change");
	fputs("<h2>Last change</h2>\n", f);
	if (!json_is_object(lc)) {
		fputs("<p class=\"muted\">no change since the start</p>\n", f);
		return;
	}
	fputs("<p>", f);
	put_value(f, json_object_get(lc, "time"));
	fputs(", revision <code>", f);
	put_value(f, json_object_get(lc, "revision"));
	fputs("</code></p>\n", f);
	put_table(f, &plan_table, json_object_get(lc, "steps"), NULL, NULL);
}

static void service_row(FILE *f, json_t *s, void *ctx)
{
	fputs("<td class=\"service\">", f);
	put_text(f, str(s, "name"));
	fputs("</td>", f);
	cell_code(f, str(s, "image"));
	cell_text(f, str(s, "mode"));
	long long run = num(s, "running"), want = num(s, "desired");
	fprintf(f, "<td><span class=\"%s\">%lld / %lld</span>", run >= want ? "ok" : "bad", run, want);
	put_not_created(f, s);
	fputs("</td>", f);
}

static const struct table service_table = {
	"id=\"services\"", {"service", "image", "mode", "running / desired"}, service_row};

static void put_task(FILE *f, const char *service, json_t *t)
{
	const char *state = str(t, "state");
	const char *cls = !state ? "wait"
			  : !strcmp(state, "running") ? ""
			  : !strcmp(state, "failed") || !strcmp(state, "rejected") ? " fail"
										    : " wait";
	fprintf(f, "<div class=\"task%s\"><b>", cls);
	put_text(f, service);
	fprintf(f, "</b>.%lld<br>", num(t, "slot"));
	put_state(f, state);
	if (str(t, "error")) {
		fputs("<br><small>", f);
		put_text(f, str(t, "error"));
		fputs("</small>", f);
	}
	fputs("</div>", f);
}

/* Nodes as columns, each with the tasks placed on it (the swarm visualizer's view). */
static void node_map_section(FILE *f, json_t *res)
{
	size_t n_nodes = count_kind(res, "swarm_node");
	if (!n_nodes && !count_kind(res, "swarm_service"))
		return;
	fputs("<h2>Nodes and tasks</h2>\n<div class=\"map\" id=\"nodemap\">\n", f);
	size_t i, k, j;
	json_t *n, *s, *t;
	/* The columns: the nodes listed, then any node a task names that was not (no node list). */
	json_t *cols = json_array();
	foreach_kind(res, "swarm_node", i, n) json_array_append(cols, n);
	foreach_kind(res, "swarm_service", i, s) json_array_foreach(json_object_get(s, "tasks"), k, t) {
		const char *node = str(t, "node");
		const char *col = node && *node ? node : "(unassigned)";
		bool known = false;
		json_array_foreach(cols, j, n) known = known || (str(n, "hostname") && !strcmp(str(n, "hostname"), col));
		if (!known)
			json_array_append_new(cols, json_pack("{s:s}", "hostname", col));
	}
	json_array_foreach(cols, j, n) {
		const char *host = str(n, "hostname");
		fputs("<div class=\"node\"><h3>", f);
		put_text(f, host);
		fputs("</h3>", f);
		if (str(n, "role")) {
			fputs("<small>", f);
			put_text(f, str(n, "role"));
			if (json_is_true(json_object_get(n, "leader")))
				fputs(" (leader)", f);
			fputs(", ", f);
			put_text(f, str(n, "availability"));
			fputs(", ", f);
			put_state(f, str(n, "state"));
			fputs("</small>", f);
		}
		foreach_kind(res, "swarm_service", i, s) json_array_foreach(json_object_get(s, "tasks"), k, t) {
			const char *node = str(t, "node");
			if (host && !strcmp(node && *node ? node : "(unassigned)", host))
				put_task(f, str(s, "name"), t);
		}
		fputs("</div>\n", f);
	}
	json_decref(cols);
	fputs("</div>\n", f);
}

/* ctx: the profile's total weight. */
static void endpoint_row(FILE *f, json_t *e, void *total)
{
	cell_text(f, str(e, "name"));
	cell_code(f, str(e, "target"));
	fprintf(f, "<td class=\"weight\">%lld</td><td>", num(e, "weight"));
	put_bar(f, num(e, "weight"), *(long long *)total);
	fputs("</td>", f);
	cell_state(f, str(e, "status"));
	cell_state(f, str(e, "monitor"));
}

static const struct table endpoint_table = {
	"class=\"endpoints\"", {"endpoint", "target", "weight", "share", "status", "monitor"}, endpoint_row};

static void traffic_section(FILE *f, json_t *res)
{
	if (!count_kind(res, "traffic_manager"))
		return;
	fputs("<h2>Traffic Manager</h2>\n", f);
	size_t i;
	json_t *p;
	foreach_kind(res, "traffic_manager", i, p) {
		fputs("<h3 class=\"profile\">", f);
		put_text(f, str(p, "name"));
		fputs("</h3><p>", f);
		if (str(p, "fqdn")) {
			fputs("<code>", f);
			put_text(f, str(p, "fqdn"));
			fputs("</code>, ", f);
		}
		fputs("monitor ", f);
		put_state(f, str(p, "monitor"));
		put_not_created(f, p);
		fputs("</p>\n", f);
		long long total = sum_weights(json_object_get(p, "endpoints"));
		put_table(f, &endpoint_table, json_object_get(p, "endpoints"), NULL, &total);
	}
}

/* ctx: the resources, whose swarm nodes say which instances joined the swarm. */
static void scale_set_row(FILE *f, json_t *s, void *ctx)
{
	json_t *res = ctx;
	size_t k, j;
	json_t *in, *n;
	cell_text(f, str(s, "name"));
	fprintf(f, "<td>%lld / %lld</td><td>", num(s, "capacity"), num(s, "desired"));
	json_array_foreach(json_object_get(s, "instances"), k, in) {
		const char *entry = json_string_value(in);
		const char *eq = entry ? strchr(entry, '=') : NULL;
		const char *host = eq ? eq + 1 : entry;
		put_text(f, entry);
		const char *state = NULL;
		foreach_kind(res, "swarm_node", j, n) if (host && str(n, "hostname") && !strcmp(str(n, "hostname"), host))
			state = str(n, "state");
		fputs(" (", f);
		if (state)
			put_state(f, state);
		else
			fputs("<span class=\"muted\">not a swarm node</span>", f);
		fputs(")<br>", f);
	}
	fputs("</td>", f);
}

static const struct table scale_set_table = {
	"id=\"scalesets\"", {"scale set", "capacity / desired", "instances (swarm node)"}, scale_set_row};

static void group_row(FILE *f, json_t *g, void *ctx)
{
	size_t k;
	json_t *c;
	cell_text(f, str(g, "name"));
	fputs("<td>", f);
	if (json_is_true(json_object_get(g, "exists")))
		put_state(f, str(g, "provisioning"));
	else
		fputs("<span class=\"muted\">not created</span>", f);
	fputs("</td>", f);
	cell_state(f, str(g, "state"));
	cell_code(f, str(g, "fqdn"));
	fputs("<td>", f);
	json_array_foreach(json_object_get(g, "containers"), k, c) {
		put_text(f, str(c, "name"));
		fputs(" <code>", f);
		put_text(f, str(c, "image"));
		fputs("</code> ", f);
		put_state(f, str(c, "state"));
		if (num(c, "restarts"))
			fprintf(f, ", %lld restarts", num(c, "restarts"));
		fputs("<br>", f);
	}
	fputs("</td>", f);
}

static const struct table group_table = {
	"id=\"groups\"", {"group", "provisioning", "state", "FQDN", "containers"}, group_row};

/* ctx: the rollout's total weight. */
static void revision_row(FILE *f, json_t *rev, void *total)
{
	cell_code(f, str(rev, "revision"));
	cell_state(f, json_is_true(json_object_get(rev, "running")) ? "running"
		      : json_is_true(json_object_get(rev, "group")) ? "not running"
								   : "no group");
	fprintf(f, "<td class=\"weight\">%lld ", num(rev, "weight"));
	put_bar(f, num(rev, "weight"), *(long long *)total);
	fputs("</td>", f);
	cell_state(f, str(rev, "monitor"));
}

static const struct table revision_table = {
	"class=\"revisions\"", {"revision", "group", "weight", "monitor"}, revision_row};

static void rollouts_section(FILE *f, json_t *st)
{
	json_t *ros = json_object_get(st, "rollouts");
	if (!json_array_size(ros))
		return;
	fputs("<h2>Rollouts</h2>\n", f);
	size_t i;
	json_t *ro;
	json_array_foreach(ros, i, ro) {
		fputs("<h3 class=\"rollout\">", f);
		put_text(f, str(ro, "group"));
		fputs("</h3><p>profile ", f);
		put_text(f, str(ro, "profile"));
		fputs(", ", f);
		put_state(f, str(ro, "phase"));
		fputs(", spec's revision <code>", f);
		put_value(f, json_object_get(ro, "desired"));
		fputs("</code>", f);
		const char *phase = str(ro, "phase");
		if (phase && (!strcmp(phase, "progressing") || !strcmp(phase, "rolling_back"))) {
			fprintf(f, "<br>rolling out <code>");
			put_text(f, str(ro, "revision"));
			fprintf(f, "</code>: step %lld of %zu", num(ro, "step"), json_array_size(json_object_get(ro, "steps")));
			if (json_is_integer(json_object_get(ro, "step_weight")))
				fprintf(f, " (%lld%%)", num(ro, "step_weight"));
			fprintf(f, ", %lld s in the step", num(ro, "in_step_s"));
			if (json_is_integer(json_object_get(ro, "pause_left_s")))
				fprintf(f, ", <b>%lld s left</b> in the pause", num(ro, "pause_left_s"));
		}
		if (str(ro, "next")) {
			fputs("<br>next: ", f);
			put_text(f, str(ro, "next"));
		}
		fputs("</p>\n", f);
		long long total = sum_weights(json_object_get(ro, "revisions"));
		put_table(f, &revision_table, json_object_get(ro, "revisions"), NULL, &total);
	}
}

char *page_render(const char *status_json)
{
	json_t *st = status_json ? json_loads(status_json, 0, NULL) : NULL;
	char *out;
	size_t len;
	FILE *f = mem_open(&out, &len);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
		   "<meta http-equiv=\"refresh\" content=\"%d\">\n<title>berth run</title>\n<style>%s</style>\n</head>\n<body>\n"
		   "<h1>berth run</h1>\n",
		PAGE_REFRESH_S, style);
	if (!json_is_object(st)) {
		fputs("<p class=\"bad\">the status could not be read</p>\n", f);
	} else {
		json_t *res = json_object_get(st, "resources");
		source_section(f, st);
		failures_section(f, st);
		reconciles_section(f, st);
		plan_section(f, st);
		kind_section(f, res, "swarm_service", "Swarm services", &service_table);
		node_map_section(f, res);
		traffic_section(f, res);
		kind_section(f, res, "scale_set", "Scale sets", &scale_set_table);
		kind_section(f, res, "container_group", "Container groups", &group_table);
		rollouts_section(f, st);
	}
	fprintf(f, "<p class=\"muted\">This page reloads every %d s; the same as JSON: <a href=\"/status\">/status</a>, "
		   "<a href=\"/metrics\">/metrics</a>.</p>\n</body>\n</html>\n",
		PAGE_REFRESH_S);
	fclose(f);
	json_decref(st);
	return out;
}
