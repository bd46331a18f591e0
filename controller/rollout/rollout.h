/* Rollouts, the pure part: what to do next to move a container group from its stable revision to
 * the desired one through a weighted Traffic Manager profile, as a function of what is live
 * (revision groups, endpoint weights and monitor statuses, the progress tag on the profile, the
 * probe's answer) and the time. No I/O: the ACI provider observes, asks rollout_next(), carries
 * out the one action it gets, observes again.
 *
 * Everything needed to resume is on the live objects: the tag "berth-rollout" on the profile
 * (phase, revisions, step, when the step began and when health first held), the revision tags
 * on the groups, and the weights. The tag is written before the weights of a step, so a crash
 * between the two resumes the same step; the pause of a step starts again only when its start
 * cannot be read back. */
#ifndef BERTH_ROLLOUT_H
#define BERTH_ROLLOUT_H
#include <stdbool.h>
#include <stddef.h>

#include "spec/spec.h"

#define ROLLOUT_TAG "berth-rollout"          /* on the profile */
#define ROLLOUT_TAG_GROUP "berth-group"      /* on a revision's container group: the spec's name */
#define ROLLOUT_TAG_REVISION "berth-revision" /* on a revision's container group */
#define ROLLOUT_REV_LEN 7
#define ROLLOUT_WEIGHT_TOTAL 1000 /* Traffic Manager weights are 1..1000 */
#define ROLLOUT_MAX_STEPS 32

typedef enum {
	ROLLOUT_NONE,        /* no tag (or another group's) */
	ROLLOUT_PROGRESSING,
	ROLLOUT_ROLLING_BACK,
	ROLLOUT_SUCCEEDED,
	ROLLOUT_FAILED,      /* rolled back; rev is not retried until the spec changes */
} rollout_phase;

typedef struct rollout_tag {
	rollout_phase phase;
	char group[64];
	char rev[ROLLOUT_REV_LEN + 1];  /* the revision rolled out */
	char from[ROLLOUT_REV_LEN + 1]; /* the stable revision it replaces; "" for the first */
	int step;                       /* index into the steps; -1: the new revision is starting */
	long long since;                /* unix seconds: when the step began */
	long long healthy;              /* unix seconds: when health first held in the step; -1: not yet */
	bool promote;                   /* skip the remaining pauses */
	char reason[112];               /* why it rolled back */
} rollout_tag;

/* "phase=progressing;group=web;rev=...;..." (malloc'd, at most 256 characters, Azure's limit). */
char *rollout_tag_format(const rollout_tag *t);
/* false when s is not a tag of this format (then *t is zeroed, phase NONE). */
bool rollout_tag_parse(const char *s, rollout_tag *t);
const char *rollout_phase_name(rollout_phase p);

/* The rollout of one group, from the spec. */
typedef struct rollout_cfg {
	int n_steps;
	int weight[ROLLOUT_MAX_STEPS]; /* percent */
	double pause[ROLLOUT_MAX_STEPS]; /* seconds */
	const char *monitor;            /* required endpointMonitorStatus; NULL: not gated */
	bool probe;
	int probe_expect;
	int max_restarts;
	double timeout;                 /* seconds a step may take to become healthy */
	double poll;                    /* seconds between health checks */
} rollout_cfg;

void rollout_cfg_from_spec(const struct spec_model *m, const spec_container_group *g, rollout_cfg *out);

/* One revision as observed: its group and its endpoint, either may be missing. */
typedef struct rollout_revision {
	char rev[ROLLOUT_REV_LEN + 1];
	bool group;
	bool running;  /* the group is provisioned and all its containers run */
	bool failed;   /* provisioning failed, or a container terminated */
	int restarts;  /* the most restarts of any of its containers */
	bool endpoint;
	int weight;
	const char *monitor; /* the endpoint's endpointMonitorStatus; NULL: unknown */
} rollout_revision;

typedef struct rollout_view {
	const char *group;    /* the spec's name */
	const char *desired;  /* the revision of the spec's content */
	const rollout_revision *revs;
	size_t n_revs;
	bool has_tag;
	rollout_tag tag;
	double now;           /* unix seconds */
	int probe;            /* the new revision's probe: HTTP status, -1 no answer, 0 not probed */
} rollout_view;

typedef enum {
	RO_NOTHING, /* the live state is what the spec says */
	RO_BLOCKED, /* the desired revision failed before: not retried until the spec changes */
	RO_WAIT,    /* nothing is due for wait_s seconds */
	RO_TAG,     /* write tag */
	RO_CREATE,  /* create revision rev's group */
	RO_WEIGHT,  /* set revision rev's endpoint to weight, creating it */
	RO_UNROUTE, /* remove revision rev's endpoint */
	RO_DELETE,  /* delete revision rev's group */
	RO_ERROR,   /* cannot go on (why says why): the stable revision to roll back to is gone */
} rollout_op;

typedef struct rollout_action {
	rollout_op op;
	char rev[ROLLOUT_REV_LEN + 1];
	int weight;
	double wait_s;
	rollout_tag tag;
	bool failed_now; /* RO_TAG: this write starts a rollback for a failure (not a new spec) */
	char why[256];   /* for progress lines and errors */
} rollout_action;

/* The one thing to do next. */
void rollout_next(const rollout_cfg *cfg, const rollout_view *v, rollout_action *out);

/* The revision an endpoint named "<group>-<7 hex>" routes to (a pointer into endpoint), or NULL
 * when the name is not one of group's revision endpoints. */
const char *rollout_endpoint_revision(const char *group, const char *endpoint);

/* The stable revision of a view (what serves when nothing is in flight); "" when none. */
const char *rollout_stable(const rollout_view *v);
/* "3f2a91c → 8be04d1, 10% → 50% → 100%, pause 2m" (malloc'd). */
char *rollout_describe(const rollout_cfg *cfg, const char *from, const char *to);
/* The weights of step k: *new_w for the new revision, *old_w for the stable one (0: removed). */
void rollout_step_weights(const rollout_cfg *cfg, int k, int *new_w, int *old_w);

#endif
