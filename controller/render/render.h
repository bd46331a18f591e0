/* Plans for people and for machines, from core's plan only (no provider knows how it is shown). */
#ifndef BERTH_RENDER_H
#define BERTH_RENDER_H
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "core/plan.h"

/* Writes the plan in Terraform's style: "+" create, "~" update, "-/+" replace, "-" delete, with
 * reasons and per-field old -> new; sensitive values are never shown. Steps appear in dependency
 * order. color adds ANSI colours (callers pass isatty && !NO_COLOR). */
void plan_render_text(const plan *p, FILE *out, bool color);

/* The machine-readable plan (format documented in docs/plan-json.md). meta is merged in at the
 * top level (owner, spec digest, observed fingerprint, source); the caller owns the result. */
#define PLAN_JSON_FORMAT_VERSION 1
json_t *plan_to_json(const plan *p, json_t *meta);

#endif
