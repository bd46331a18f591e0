#!/usr/bin/python3
"""Checks the request bodies a client sent to the ARM simulator against the saved OpenAPI specs.

    /usr/bin/python3 tests/azure-sim/check_requests.py [LOG.json]      (else the log on stdin)

LOG is the simulator's GET /_sim/log: a JSON list of {method, path, query, status, body, ...}.
Every ARM request that carries a JSON body (PUT, PATCH, POST) is matched by method and path
template to an operation of the specs (case-insensitively, as ARM matches paths) and its body is
validated against that operation's body parameter schema:
  - JSON Schema draft 4 (types, required, enums incl. modelAsString ones case-insensitively,
    patterns, ranges), with the same Swagger -> JSON Schema conversion and $ref resolution as the
    response checks in test_fidelity.py (openapi.py);
  - no property the schema does not list, where the schema is closed (lists properties and has no
    additionalProperties), and no readOnly property.
Secrets are redacted in the log as "***"; they are strings, which is what the specs declare.
Requests without a body, and the Entra ID token / IMDS requests (form posts outside ARM, no spec
here), are counted but not checked. A body sent to a path no spec operation matches, an operation
that takes no body, or an api-version no spec stands for, is a failure.

Versions: the saved specs are the newer api-versions (ACI 2026-05-01, TM 2026-09-01, Storage
2025-06-01, Compute 2024-11-01); berth sends the long-lived ones (ACI 2023-05-01, TM 2022-04-01,
Storage 2023-05-01, Compute 2024-11-01). /work/shared/api/azure/README.md records that the
operations used here are identical across those versions, so a request in either version is
validated against the saved spec. Resource groups have no saved spec: their PUT body is checked
against openapi.RG_SCHEMA (ARM's ResourceGroup shape).

Prints one line per failure ("FAIL #N METHOD PATH api-version=V [operationId]: problem"), then
"check_requests: N bodies checked, N failed (...)". Exit status 1 on any failure (or a log that
cannot be read), else 0.
"""

import json
import re
import sys
import urllib.parse

from openapi import BASE, Specs

# Provider namespace (lower case) -> the api-versions validated against the saved spec of that
# provider: the saved spec's own version and the long-lived one berth sends (same operations).
SPEC_VERSIONS = {
    "microsoft.containerinstance": {"2026-05-01", "2023-05-01"},
    "microsoft.network": {"2026-09-01", "2022-04-01"},        # Traffic Manager
    "microsoft.storage": {"2025-06-01", "2023-05-01"},
    "microsoft.compute": {"2024-11-01"},
}
RG_VERSIONS = {"2021-04-01", "2022-09-01"}                     # Microsoft.Resources (armsim's)
RG_PATH = re.compile(r"^/subscriptions/[^/]+/resourcegroups/[^/]+$", re.IGNORECASE)


def is_arm(path):
    return path.lower().startswith("/subscriptions/") or path.lower().startswith("/providers/")


def provider_of(path):
    m = re.search(r"/providers/([^/]+)", path, re.IGNORECASE)
    return m.group(1).lower() if m else None


def check(entries, specs):
    """(failures, bad, checked, skipped, ops): failure lines, the set of failing request numbers,
    number of ARM request bodies, number of requests not validated, {operationId: count} of the
    validated ones."""
    failures, bad, checked, skipped, ops = [], set(), 0, 0, {}
    for i, r in enumerate(entries, 1):
        method = (r.get("method") or "").upper()
        path = urllib.parse.unquote(r.get("path") or "")
        query = r.get("query") or {}
        version = query.get("api-version")
        if isinstance(version, list):
            version = version[0] if version else None
        body = r.get("body")
        if body is None or method not in ("PUT", "PATCH", "POST") or not is_arm(path):
            skipped += 1
            continue
        checked += 1
        where = "#%d %s %s api-version=%s" % (i, method, path, version)

        def fail(msg, where=where, i=i):
            failures.append("FAIL %s: %s" % (where, msg))
            bad.add(i)

        if RG_PATH.match(path):
            if method != "PUT":
                fail("no resource group operation %s with a body is known" % method)
                continue
            if version not in RG_VERSIONS:
                fail("api-version %r is not one of %s" % (version, sorted(RG_VERSIONS)))
                continue
            op, schema, base = "ResourceGroups_CreateOrUpdate", {"$ref": "rg.json#/definitions/ResourceGroup"}, \
                BASE + "armsim/rg.json"
        else:
            prov = provider_of(path)
            if prov not in SPEC_VERSIONS:
                fail("no saved spec for provider %s" % prov)
                continue
            if version not in SPEC_VERSIONS[prov]:
                fail("api-version %r: the saved spec stands for %s only" % (version, sorted(SPEC_VERSIONS[prov])))
                continue
            found = specs.find_operation(method, path)
            if found is None:
                fail("no operation in the specs matches this method and path")
                continue
            _, _, op, schema, base, _ = found
            if schema is None:
                fail("%s takes no request body, but one was sent" % op)
                continue
        where += " [%s]" % op
        errs = specs.request_errors(schema, base, body)
        for e in errs:
            fail(e, where)
        ops[op] = ops.get(op, 0) + 1
    return failures, bad, checked, skipped, ops


def main(argv):
    try:
        if len(argv) > 1:
            with open(argv[1]) as f:
                entries = json.load(f)
        else:
            entries = json.load(sys.stdin)
        if not isinstance(entries, list):
            raise ValueError("the log is not a JSON list")
    except (OSError, ValueError) as e:
        print("check_requests: cannot read the log: %s" % e)
        return 1
    failures, bad, checked, skipped, ops = check(entries, Specs())
    for line in failures:
        print(line)
    summary = ", ".join("%s %d" % kv for kv in sorted(ops.items())) or "none"
    print("check_requests: %d bodies checked, %d failed (%d requests without a body or outside ARM "
          "skipped; operations: %s)" % (checked, len(bad), skipped, summary))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
