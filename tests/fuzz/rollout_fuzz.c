/* libFuzzer target: the rollout decision (controller/rollout/rollout.c) on arbitrary live states.
 * The progress tag is read back from a profile anyone with access to the resource group can
 * edit, so its parser sees untrusted text; the decision must stay safe whatever it reads.
 * Built by tests/fuzz/run.sh with clang -fsanitize=fuzzer,address,undefined from the module's
 * source; what it calls (spec's pause helpers, xalloc) from build/libberth.a.
 *
 * An input is
 *   byte 0      the number of steps (1 + b % 4; the last is 100, the others increase below it)
 *   byte 1      flags: 1 probe gate, 2 monitor gate, 4 promote in the tag, 8 the probe answers 200
 *   bytes 2-3   the number of revisions (b2 % 6) and the index of the desired one (b3)
 *   then        per revision 4 bytes: rev id (0-7 → "r0000a0".."r0000a7"), flags (1 group,
 *               2 running, 4 failed, 8 endpoint), weight (b * 4 + 1), monitor (index of 5 values)
 *   the rest    the berth-rollout tag text, as the profile holds it
 * Besides crashes, sanitizer reports and leaks, it traps on a broken promise:
 *   - a weight set is 1..1000 and only for a revision that has a group;
 *   - a group is deleted only once its endpoint is gone (traffic first);
 *   - a created revision is the desired one;
 *   - a tag written formats to at most 256 characters and parses back to itself. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rollout/rollout.h"

static const char *const monitors[] = {"Online", "CheckingEndpoint", "Degraded", "Disabled", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 4)
		return 0;
	rollout_cfg cfg = {0};
	cfg.n_steps = 1 + data[0] % 4;
	for (int i = 0; i < cfg.n_steps; i++) {
		cfg.weight[i] = i + 1 == cfg.n_steps ? 100 : 10 * (i + 1);
		cfg.pause[i] = 60;
	}
	cfg.probe = data[1] & 1;
	cfg.monitor = data[1] & 2 ? "Online" : NULL;
	cfg.probe_expect = 200;
	cfg.timeout = 900;
	cfg.poll = 10;
	size_t n = data[2] % 6, at = 4;
	rollout_revision revs[6];
	memset(revs, 0, sizeof(revs));
	size_t used = 0;
	for (size_t i = 0; i < n && at + 4 <= size; i++, at += 4) {
		char rev[8];
		snprintf(rev, sizeof(rev), "r0000a%d", data[at] % 8);
		bool dup = false;
		for (size_t k = 0; k < used; k++)
			dup = dup || !strcmp(revs[k].rev, rev);
		if (dup)
			continue;
		rollout_revision *r = &revs[used++];
		snprintf(r->rev, sizeof(r->rev), "%s", rev);
		r->group = data[at + 1] & 1;
		r->running = data[at + 1] & 2;
		r->failed = data[at + 1] & 4;
		r->endpoint = data[at + 1] & 8;
		r->weight = data[at + 2] * 4 + 1;
		r->monitor = monitors[data[at + 3] % 5];
	}
	char desired[8];
	snprintf(desired, sizeof(desired), "r0000a%d", data[3] % 8);
	char *tag = strndup((const char *)data + at, size - at);
	rollout_view v = {.group = "web", .desired = desired, .revs = revs, .n_revs = used, .now = 1764770000,
			  .probe = data[1] & 8 ? 200 : 503};
	v.has_tag = rollout_tag_parse(tag, &v.tag);
	if (v.has_tag && (data[1] & 4))
		v.tag.promote = true;
	rollout_action a;
	rollout_next(&cfg, &v, &a);
	const rollout_revision *target = NULL;
	for (size_t i = 0; i < used; i++)
		if (!strcmp(revs[i].rev, a.rev))
			target = &revs[i];
	switch (a.op) {
	case RO_WEIGHT:
		if (a.weight < 1 || a.weight > ROLLOUT_WEIGHT_TOTAL || !target || !target->group)
			abort();
		break;
	case RO_DELETE:
		if (!target || !target->group || target->endpoint)
			abort();
		break;
	case RO_CREATE:
		if (strcmp(a.rev, desired))
			abort();
		break;
	case RO_TAG: {
		char *text = rollout_tag_format(&a.tag);
		rollout_tag back;
		if (strlen(text) > 256 || !rollout_tag_parse(text, &back) || back.phase != a.tag.phase ||
		    strcmp(back.rev, a.tag.rev) || strcmp(back.from, a.tag.from) || back.step != a.tag.step ||
		    back.since != a.tag.since || back.healthy != a.tag.healthy || back.promote != a.tag.promote)
			abort();
		free(text);
		break;
	}
	default:
		break;
	}
	free(tag);
	return 0;
}
