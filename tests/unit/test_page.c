/* server/page: the status page drawn from a /status fixture (tests/unit/fixtures/page-status.json,
 * whose names, commit message, errors and diagnostics are hostile HTML): every section is there
 * with the right values, nothing of the hostile input survives unescaped, and the page loads
 * nothing from elsewhere and runs no script. */
#include "testutil.h"

#include "server/page.h"

static char *read_fixture(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "tests/unit/fixtures/%s", name);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		fwrite(chunk, 1, n, out);
	fclose(f);
	fclose(out);
	return buf;
}

static void assert_has(const char *html, const char *what)
{
	if (!strstr(html, what))
		print_error("the page lacks: %s\n", what);
	assert_non_null(strstr(html, what));
}

static void assert_lacks(const char *html, const char *what)
{
	if (strstr(html, what))
		print_error("the page has: %s\n", what);
	assert_null(strstr(html, what));
}

static void test_escape(void **state)
{
	(void)state;
	char *e = page_escape("<script>alert('x')</script> & \"q\"");
	assert_string_equal(e, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;");
	free(e);
	e = page_escape("\" onmouseover=\"alert(1)");
	assert_string_equal(e, "&quot; onmouseover=&quot;alert(1)");
	free(e);
	e = page_escape("&amp; already"); /* escaped again: shown as typed */
	assert_string_equal(e, "&amp;amp; already");
	free(e);
	e = page_escape("plain é ünïcode");
	assert_string_equal(e, "plain é ünïcode");
	free(e);
	e = page_escape("");
	assert_string_equal(e, "");
	free(e);
	e = page_escape(NULL);
	assert_string_equal(e, "");
	free(e);
}

static void test_sections(void **state)
{
	(void)state;
	char *json = read_fixture("page-status.json");
	char *html = page_render(json);
	assert_true(!strncmp(html, "<!DOCTYPE html>\n<html lang=\"en\">", 32));
	assert_has(html, "<meta http-equiv=\"refresh\" content=\"10\">");
	assert_has(html, "</body>\n</html>\n");
	/* source and commit */
	assert_has(html, "<code>https://git.example.com/ops/deploy.git</code> ref <code>main</code>");
	assert_has(html, "web: &lt;script&gt;alert(1)&lt;/script&gt; &amp; scale to 3");
	assert_has(html, "by Ann &quot;O&#39;Hara&quot;, 2025-12-03T14:00:00Z");
	/* failures: the error, the diagnostics, the failed step, the service that does not converge */
	assert_has(html, "<div class=\"err\">last reconcile: apply failed: 1 step &lt;b&gt;failed&lt;/b&gt;\nprod/app.yaml:3:5:");
	assert_has(html, "&lt;img src=x onerror=alert(2)&gt;");
	assert_has(html, "service api&lt;/td&gt;&lt;script&gt;x()&lt;/script&gt;: 0/2 tasks running");
	assert_has(html, "service web: 2/3 tasks running: task: non-zero exit (7)");
	/* the reconciles, newest first as given, revisions shortened */
	assert_has(html, "<tr><td>2026-12-03T14:00:00Z</td><td><code>0123456789ab</code></td><td><span class=\"st-failure\">failure</span></td><td>1.50 s</td>");
	assert_has(html, "<code>dir:sha256:abc</code></td><td><span class=\"st-success\">success</span></td><td>0.25 s</td><td></td>");
	/* the plan */
	assert_has(html, "<tr><td>create</td><td>service</td><td>web</td><td>not present</td><td><span class=\"st-done\">done</span></td></tr>");
	/* services, running / desired */
	assert_has(html, "<td class=\"service\">web</td><td><code>berth-demo/busybox:latest</code></td><td>replicated</td><td><span class=\"bad\">2 / 3</span>");
	assert_has(html, "<span class=\"ok\">0 / 0</span> <span class=\"muted\">(not created)</span>");
	/* the node map: a column per node, a task without a node in its own */
	assert_has(html, "<div class=\"node\"><h3>node-a</h3><small>manager (leader), active, <span class=\"st-ready\">ready</span></small><div class=\"task\"><b>web</b>.1<br>");
	assert_has(html, "<h3>node-b</h3><small>worker, drain, <span class=\"st-down\">down</span></small>");
	assert_has(html, "<div class=\"task fail\"><b>web</b>.3<br><span class=\"st-failed\">failed</span><br><small>task: non-zero exit (7)</small></div>");
	assert_has(html, "<h3>(unassigned)</h3><div class=\"task wait\"><b>api&lt;/td&gt;");
	/* Traffic Manager: weights and their bars */
	assert_has(html, "<td class=\"weight\">750</td><td><meter min=\"0\" max=\"100\" value=\"75\" title=\"75%\">75%</meter> 75%");
	assert_has(html, "<td class=\"weight\">250</td><td><meter min=\"0\" max=\"100\" value=\"25\" title=\"25%\">25%</meter>");
	assert_has(html, "green&quot;onmouseover=&quot;alert(3)");
	assert_has(html, "<span class=\"st-Degraded\">Degraded</span>");
	/* scale sets and their nodes */
	assert_has(html, "<td>workers</td><td>2 / 3</td><td>0=node-a (<span class=\"st-ready\">ready</span>)<br>1=node-c (<span class=\"muted\">not a swarm node</span>)");
	/* container groups without a rollout */
	assert_has(html, "<tr><td>api&lt;i&gt;</td><td><span class=\"st-Succeeded\">Succeeded</span></td><td><span class=\"st-Running\">Running</span></td>"
			 "<td><code>api.westeurope.azurecontainer.io</code></td><td>app <code>nginx:1.25</code> <span class=\"st-Running\">Running</span>, 2 restarts<br>");
	/* the rollout: step and time left */
	assert_has(html, "rolling out <code>r2</code>: step 2 of 4 (25%), 30 s in the step, <b>90 s left</b> in the pause");
	/* nothing hostile survives; nothing comes from elsewhere; no script */
	assert_lacks(html, "<script");
	assert_lacks(html, "<img");
	assert_lacks(html, "<b>failed</b>");
	assert_lacks(html, "\"onmouseover");
	assert_lacks(html, "src=\"");
	assert_lacks(html, "<link");
	assert_lacks(html, "url(");
	free(html);
	free(json);
}

static void test_unreadable_and_empty(void **state)
{
	(void)state;
	const char *bad[] = {NULL, "", "not json", "[1,2]", "\"<script>\""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *html = page_render(bad[i]);
		assert_has(html, "the status could not be read");
		assert_lacks(html, "<script");
		assert_has(html, "</html>\n");
		free(html);
	}
	/* A status with nothing yet (before the first reconcile): the sections say so. */
	char *html = page_render("{\"ready\": false, \"source\": {\"repo\": null, \"ref\": null, \"path\": \"spec\"}}");
	assert_has(html, "<span class=\"st-not_ready\">not ready</span>");
	assert_has(html, "<p class=\"muted\">none yet</p>");
	assert_has(html, "<p class=\"muted\">no change since the start</p>");
	assert_has(html, "<div id=\"failures\"><p class=\"muted\">none</p></div>");
	assert_lacks(html, "Swarm services");
	free(html);
	/* A hostile state: escaped as text, letters and digits only in its class. */
	html = page_render("{\"resources\": [{\"kind\": \"traffic_manager\", \"name\": \"p\", \"monitor\": \"a\\\" onclick=\\\"b <x>\"}]}");
	assert_has(html, "monitor <span class=\"st-a__onclick__b__x_\">a&quot; onclick=&quot;b &lt;x&gt;</span>");
	free(html);
	/* Wrong types everywhere are ignored, not crashed on. */
	html = page_render("{\"source\": 1, \"history\": {\"a\": 1}, \"resources\": [1, \"x\", {\"kind\": 3},"
			   " {\"kind\": \"swarm_service\", \"tasks\": 5, \"name\": 7}, {\"kind\": \"traffic_manager\", \"endpoints\": [{\"weight\": \"9\"}]}],"
			   " \"rollouts\": [{\"phase\": \"progressing\", \"revisions\": 2}], \"last_change\": {\"steps\": [1]}}");
	assert_has(html, "</html>\n");
	free(html);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_unreadable_and_empty),
	};
	return cmocka_run_group_tests_name("page", tests, NULL, NULL);
}
