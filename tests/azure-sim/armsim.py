#!/usr/bin/python3
"""armsim: an API-faithful simulator of Azure Resource Manager (the parts berth uses), the Entra ID
v2 token endpoint and the instance metadata service (IMDS) managed-identity token endpoint.

Stdlib only; run it with Debian's interpreter:

    /usr/bin/python3 tests/azure-sim/armsim.py --port 0 --port-file FILE [--page-size N] [--lro-polls N]
        [--time-scale X] [--probe-port 0 --probe-port-file FILE]

The API facts it follows are in /work/shared/api/azure/README.md and the OpenAPI specs beside it;
tests/azure-sim/test_fidelity.py checks it against the Azure SDK for Python and those specs.
The control API (no auth) lives under /_sim/: reset, credentials, config, seed, faults, log, probes,
state. A second port (--probe-port, default 0 = a free one, also written to --probe-port-file and
shown as "probe_port" in GET /_sim/state) is the containers' HTTP side, the probe server (below).

Behaviour worth knowing when writing tests against it:
- Tokens come only from POST /{tenant}/oauth2/v2.0/token (credentials registered with
  POST /_sim/credentials) or from IMDS (after {"msi": true}); ARM checks issuer, expiry and audience.
  No Authorization header -> 401 AuthenticationFailed (as ARM does); an unknown, expired or
  wrong-audience token -> 401 InvalidAuthenticationToken / ExpiredAuthenticationToken.
  Tokens are JWTs shaped like Entra ID v1 access tokens (what Entra issues for Azure Storage and
  ARM, whose resources take v1 tokens): base64url header.payload.signature with the claims aud (the
  resource, without its trailing /), iss https://sts.windows.net/<tenant>/, iat, nbf, exp, tid,
  appid, oid, sub, ver 1.0 -- enough for Azurite's `--oauth basic`, which decodes the token and
  checks issuer, audience and lifetime (the signature, an HMAC under a per-run key, is not
  checked by anyone). Config "token_audience" (POST /_sim/config, a string or null) makes every
  token issued after it carry that audience instead: a misconfigured token, for tests.
- Long-running operations (ACI PUT/DELETE, VMSS PATCH) finish after `lro_polls` polls; a poll is a
  GET of the Azure-AsyncOperation URL, of the Location URL or of the resource itself. lro_polls 0
  finishes at once (ACI DELETE then answers 200 with the deleted group instead of 202).
  LRO responses carry Retry-After: <retry_after> (config, default 0).
- Fault "container_exit" {"exit_code", "message"}: the next matching container-group PUT provisions,
  but its containers show Terminated with that exit code, 3 restarts and a BackOff event.
- Fault "slow_start" {"reads": N}: the next matching container-group PUT provisions, but its
  containers stay Waiting (ContainerCreating, group state Pending) for the next N reads of the
  group, as while ACI pulls an image; then they run.
- A failed LRO (fault "fail_provisioning") reports status Failed + error on the Azure-AsyncOperation
  URL, answers the Location URL with HTTP 400 (or the rule's "status") and the ARM error body, and
  leaves the resource with provisioningState Failed.
- Fault "hold_writes" {"after": K}: ARM writes (PUT, PATCH, DELETE, POST under /subscriptions/)
  after the first K since the rule was set are held, unanswered, until the rule is deleted, and
  then dropped unprocessed (the write never happened); GET /_sim/state shows "held" on the rule.
  Crash tests kill the client while it waits on a held write.
- Fault rules match method (optional) and path_regex (re.search on the decoded path, no query);
  "times" defaults to 1, -1 means always; the first matching rule wins. Faults apply to every
  non-/_sim request, token and IMDS requests included. A dropped request is logged with status null.
- Scale-set instances: computerName is <computer_name_prefix><instance id in base 36, 6 digits>.
  Config "instance_hook" (--instance-hook CMD; a command line, split as a shell would) is run as
  `CMD create SCALESET COMPUTERNAME` / `CMD delete SCALESET COMPUTERNAME` for each instance added
  (seed, capacity growth) or removed (capacity decrease, POST .../delete), synchronously, before the
  operation completes (the integration tests start and stop a dockerd worker per instance). A failed
  create hook leaves the instance Failed. Seed "protect_from_scale_in": [instance ids] sets those
  instances' protectionPolicy.protectFromScaleIn; a capacity decrease skips them (Azure's scale-in
  policy), an explicit delete (POST .../delete {"instanceIds"}) removes them all the same.
- Container groups: an update changing osType, restartPolicy, a container's resources, the IP
  address type or subnets -> 409 InvalidContainerGroupUpdate (delete first). Traffic Manager endpoint
  PUT answers 201 even when it replaces an endpoint (recorded behaviour).
- Time: config "time_scale" (POST /_sim/config, default 1, any number > 0; --time-scale) makes the
  simulator's clock (monotonic) run that many times faster: monitor intervals, exit_after and
  back-off durations are in simulated seconds (time_scale 100: a 30 s interval takes 0.3 s).
  Timestamps in responses stay real times. GET /_sim/state shows "sim_time".
- Health of a target FQDN: healthy when a container group has it as its FQDN
  (<dnsNameLabel>.<location>.azurecontainer.io, case-insensitive, trailing dot ignored), is
  provisioned (Succeeded), its containers run (not Waiting for slow_start, not exiting per
  container_exit, not Terminated or backing off per exit_after) and neither probe_fails nor a
  reached unhealthy_at_step applies to it. GET /_sim/state "targets" lists every group FQDN and
  endpoint target with {fqdn, group, healthy, reason, steps}.
- endpointMonitorStatus is computed at every GET, list and PUT/PATCH answer, per the Traffic Manager
  docs: endpointStatus Disabled -> Disabled; profileStatus Disabled -> Inactive; alwaysServe
  Enabled -> Unmonitored. Otherwise, for a target ending in .azurecontainer.io (a simulated group,
  existing or not): probes happen at since + k*I (k >= 1, I = monitorConfig.intervalInSeconds,
  default 30; since = when monitoring (re)started: endpoint created, target changed, endpoint or
  profile re-enabled, alwaysServe turned off; a write that changes only the weight or other
  properties keeps it), each seeing the target's health at that instant. The status is
  CheckingEndpoint until a probe succeeds or T+1 probes in a row failed (T =
  toleratedNumberOfFailures, default 3), then Online after a successful probe and Degraded after
  T+1 failed ones in a row. So a new endpoint on a healthy group is CheckingEndpoint for its first
  interval, then Online; a group turning unhealthy is Degraded T*I to (T+1)*I later; healthy again,
  Online at the next probe (at most I later); an endpoint whose group never gets healthy goes from
  CheckingEndpoint to Degraded after (T+1)*I and never shows Online. Stopped is not produced (the
  simulator has no ACI stop). Any other target (www.example.com, an azureEndpoint's
  *.cloudapp.net, a nested endpoint) is not probed: CheckingEndpoint in the answer of the request
  that (re)started its monitoring, Online at every later read.
- profileMonitorStatus (monitorConfig) follows the endpoints (Traffic Manager docs, "Profile monitor
  status"): profile Disabled -> Disabled; else any endpoint Degraded -> Degraded; else any Online
  (or Unmonitored) -> Online; else any CheckingEndpoint -> CheckingEndpoints; else (no endpoints,
  all Disabled) -> Inactive.
- Group faults (POST /_sim/faults, matched by container group instead of request: "group" = the
  exact name, case-insensitive, and/or "group_regex" = re.search on the name; "times" and
  path_regex do not apply; they hold until DELETE /_sim/faults or reset):
  {"action": "probe_fails", "group": G}: G is unhealthy (the probe server answers 503, its
  endpoints go Degraded after the detection time); its instance view is unchanged.
  {"action": "exit_after", "group": G, "seconds": N, "exit_code": 1, "backoff_seconds": 10,
  "message": "Back-off restarting failed container"}: N s after G's containers started (or after
  the rule was set, if later) they exit with exit_code. With restartPolicy Always (or OnFailure and
  a non-zero code) ACI restarts them after a back-off of backoff_seconds (fixed here; a real crash
  loop's back-off grows, Kubernetes-style, not verified for ACI), they run N s again, and so on:
  restartCount counts the restarts (one per N + backoff_seconds); during the first half of each back-off currentState is Terminated {exitCode,
  startTime, finishTime, detailStatus "Error"}, during the second half Waiting {detailStatus
  "CrashLoopBackOff: Back-off restarting failed"} with the termination as previousState (as
  recorded from ACI); once restarted, Running with that previousState; events Started (count
  restarts+1) and BackOff (Warning, count = exits). Group state stays Running. With Never (or
  OnFailure and exit code 0) the containers stay Terminated and the group state becomes Failed
  (Succeeded for exit code 0), restartCount 0. The group is unhealthy whenever its containers do
  not run. DELETE /_sim/faults ends the loop: the back-off under way ends with a last restart, then
  they run; restartCount keeps its value. A group gets its schedule once (a rule added later to a
  group whose loop ended does not restart it).
  {"action": "unhealthy_at_step", "group": G, "step": K}: G turns unhealthy once an endpoint
  targeting its FQDN has been given its K-th weight. Weights count per target FQDN: the write that
  creates an endpoint (or points it at the FQDN) gives the 1st, each later endpoint PUT/PATCH or
  profile PUT/PATCH that changes its weight the next one (re-sending the same weight does not
  count); the count never goes down (until reset), also when the endpoint is deleted.
- Probe server (the second port): any method and path; dispatched on the Host header (<fqdn> or
  <fqdn>:<port>, case-insensitive): 200 "ok <group name>" when that group is healthy (the
  predicate above), 503 "unavailable <group name>: <reason>" when not, 404 when no group has that
  FQDN. GET /_sim/probes: {method, host (as sent), path, status, group, time, sim_time} per probe
  request, in arrival order (Traffic Manager's own probes are computed, not sent, and not logged).
- Storage accounts and scale sets exist only when seeded; seeding creates their resource group.
  Seed keys: storage_accounts[].large_file_shares (default false: shareQuota 1..5120),
  scale_sets[].computer_name_prefix (default: the scale set name), scale_sets[].tags.
- GET /_sim/log: {method, path, query (dict), status, time (arrival, Unix seconds), client_request_id, correlation_request_id,
  body} per non-/_sim request in arrival order, secrets replaced by "***". GET /_sim/state returns
  the stored resources; container_groups[].stored is the body the client sent, secrets included,
  so tests can check what was delivered.
"""

import argparse
import base64
import copy
import datetime
import hashlib
import hmac
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, unquote, urlsplit

# Supported api-versions per resource provider area. The first two columns of each entry are the
# versions berth uses (README "Versions chosen" + the long-lived fallbacks); the others are the
# versions the Debian 12 Azure SDK for Python (python3-azure 20230112) sends by default, real
# versions with the same wire format for the operations simulated here.
API_VERSIONS = {
    "aci": ["2023-05-01", "2026-05-01", "2022-10-01-preview"],
    "tm": ["2022-04-01", "2026-09-01", "2022-04-01-preview"],
    "storage": ["2023-05-01", "2025-06-01", "2022-09-01"],
    "compute": ["2024-11-01", "2022-08-01"],
    "resources": ["2021-04-01", "2022-09-01"],
}
IMDS_API_VERSIONS = ["2018-02-01", "2019-08-01"]
ARM_AUDIENCES = ["https://management.core.windows.net/", "https://management.core.windows.net",
                 "https://management.azure.com/", "https://management.azure.com"]
SECRET_KEYS = {"secureValue", "storageAccountKey", "client_secret", "client_assertion", "password",
               "workspaceKey", "access_token"}
ARM_NOT_FOUND_HINT = "For more details please go to https://aka.ms/ARMResourceNotFoundFix"

SEG = r"([^/]+)"
SUB = r"^/subscriptions/" + SEG
RGP = SUB + r"/resourcegroups/" + SEG
ACI = RGP + r"/providers/microsoft\.containerinstance/containergroups"
TM = RGP + r"/providers/microsoft\.network/trafficmanagerprofiles"
STA = RGP + r"/providers/microsoft\.storage/storageaccounts/" + SEG
VMSS = RGP + r"/providers/microsoft\.compute/virtualmachinescalesets/" + SEG

OP_PROVIDERS = {"microsoft.containerinstance": ("aci", "Microsoft.ContainerInstance"),
                "microsoft.compute": ("compute", "Microsoft.Compute"),
                "microsoft.network": ("tm", "Microsoft.Network"),
                "microsoft.storage": ("storage", "Microsoft.Storage")}


def now_iso(t=None, frac=True):
    d = datetime.datetime.fromtimestamp(time.time() if t is None else t, datetime.timezone.utc)
    if frac:
        return d.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")


def us_time(t):
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%m/%d/%Y %I:%M:%S %p").lstrip("0").replace("/0", "/")


def base36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


def redact(v):
    if isinstance(v, dict):
        return {k: ("***" if k in SECRET_KEYS and v[k] is not None else redact(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [redact(x) for x in v]
    return v


def norm_location(loc):
    return re.sub(r"\s+", "", loc or "").lower()


class ArmError(Exception):
    def __init__(self, status, code, message, target=None, headers=None, details=None):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.target, self.headers, self.details = target, headers or {}, details

    def body(self):
        e = {"code": self.code, "message": self.message}
        if self.target:
            e["target"] = self.target
        if self.details:
            e["details"] = self.details
        return {"error": e}


class Reply:
    def __init__(self, status, body=None, headers=None, raw=None):
        self.status, self.body, self.headers, self.raw = status, body, headers or {}, raw


def not_found(type_, name, rg):
    return ArmError(404, "ResourceNotFound",
                    "The Resource '%s/%s' under resource group '%s' was not found. %s"
                    % (type_, name, rg, ARM_NOT_FOUND_HINT))


def bad_json(msg):
    return ArmError(400, "InvalidRequestContent",
                    "The request content was invalid and could not be deserialized: '%s'." % msg)


class Clock:
    """The simulator's clock for monitor intervals and fault durations: monotonic, running
    `time_scale` times faster than real time. now() is in simulated seconds; wall(t) maps a
    simulated instant back to the real (epoch) time it happened at, for timestamps."""

    def __init__(self, scale=1.0):
        self.mono0, self.wall0 = time.monotonic(), time.time()
        self.segs = [(self.mono0, 0.0, float(scale))]     # (real monotonic start, sim start, scale)

    def now(self):
        r0, s0, k = self.segs[-1]
        return s0 + (time.monotonic() - r0) * k

    def scale(self):
        return self.segs[-1][2]

    def set_scale(self, k):
        k = float(k)
        if k != self.scale():
            self.segs.append((time.monotonic(), self.now(), k))
            del self.segs[:-32]

    def wall(self, t):
        for r0, s0, k in reversed(self.segs):
            if t >= s0 or (r0, s0, k) == self.segs[0]:
                return self.wall0 + (r0 - self.mono0) + (t - s0) / k
        return self.wall0


class State:
    def __init__(self, defaults):
        self.defaults = dict(defaults)
        self.jwt_key = os.urandom(32)  # signs the tokens (nobody verifies them; they only look real)
        self.lock = threading.RLock()
        self.clock = Clock(self.defaults.get("time_scale", 1))
        self.reset()

    def reset(self):
        with self.lock:
            self.config = dict(self.defaults)
            self.creds = {}           # (tenant, client_id) -> {"secret", "federated_token"}
            self.msi_system = False
            self.msi_system_client_id = str(uuid.uuid4())
            self.msi_users = set()
            self.tokens = {}          # token -> {"exp", "aud", "tenant", "client_id"}
            self.rgs = {}             # (sub, rg) -> rg dict
            self.accounts = {}        # (sub, rg, acct) -> account
            self.shares = {}          # (sub, rg, acct, share) -> share
            self.cgs = {}             # (sub, rg, name) -> container group record
            self.profiles = {}        # (sub, rg, name) -> profile record
            self.vmss = {}            # (sub, rg, name) -> scale set record
            self.ops = {}             # op id -> operation
            self.faults = []
            self.log = []
            self.counters = {}        # (sub, kind) -> remaining
            self.seq = 0
            self.ips = {}
            self.health = {}          # target FQDN -> [(sim time, group record or None)]: static health
            self.fqdn_steps = {}      # target FQDN -> most weights any endpoint targeting it was given
            self.probes = []          # the probe server's request log
            self.req_seq = 0          # ARM requests so far; cur_req: the one being handled
            self.cur_req = None
            self.clock.set_scale(self.config.get("time_scale", 1))

    def next_seq(self):
        self.seq += 1
        return self.seq


REQUEST_ACTIONS = ("status", "drop", "delay", "fail_provisioning", "container_exit", "slow_start", "hold_writes")
GROUP_ACTIONS = ("probe_fails", "exit_after", "unhealthy_at_step")   # match a group, not a request


class Sim:
    def __init__(self, defaults):
        self.st = State(defaults)
        self.probe_port = None

    # ---------------------------------------------------------------- helpers
    def rg_or_404(self, sub, rg):
        r = self.st.rgs.get((sub.lower(), rg.lower()))
        if r is None:
            raise ArmError(404, "ResourceGroupNotFound", "Resource group '%s' could not be found." % rg)
        return r

    def ensure_rg(self, sub, name, location):
        key = (sub.lower(), name.lower())
        if key not in self.st.rgs:
            self.st.rgs[key] = {"sub": sub, "name": name, "location": norm_location(location) or "westus",
                                "tags": None}
        return self.st.rgs[key]

    def page(self, h, items, api_version, page_size=None, extra=None):
        size = page_size or self.st.config["page_size"]
        tok = h.query.get("$skiptoken") or h.query.get("$skipToken")
        start = 0
        if tok:
            try:
                start = int(base64.urlsafe_b64decode(tok.encode()).decode())
            except Exception:
                raise ArmError(400, "InvalidSkipToken", "The skip token '%s' is invalid." % tok)
        body = {"value": items[start:start + size]}
        if start + size < len(items):
            q = "api-version=" + quote(api_version)
            for k, v in (extra or {}).items():
                q += "&%s=%s" % (k, quote(str(v)))
            tokv = base64.urlsafe_b64encode(str(start + size).encode()).decode()
            body["nextLink"] = "%s%s?%s&$skiptoken=%s" % (h.base_url(), quote(h.path), q, quote(tokv))
        return body

    def lro_urls(self, h, op):
        base = "%s/subscriptions/%s/providers/%s/locations/%s" % (
            h.base_url(), op["sub"], op["ns"], quote(op["location"] or "global"))
        q = "?api-version=" + quote(op["api_version"])
        return (base + "/operations/" + op["id"] + q, base + "/operationResults/" + op["id"] + q)

    def start_lro(self, h, kind, key, ns, location, sub, api_version, on_done):
        """Create a long-running operation; on_done(ok, op) is called (under the lock) when it ends."""
        st = self.st
        op = {"id": str(uuid.uuid4()), "kind": kind, "key": key, "ns": ns, "location": location,
              "sub": sub, "api_version": api_version, "status": "InProgress", "polls": 0,
              "need": int(st.config["lro_polls"]), "start": now_iso(), "end": None, "error": None,
              "fail": None, "on_done": on_done, "method": h.command, "http_status": 400}
        for rule in st.faults:
            if rule.get("action") == "fail_provisioning" and rule["left"] != 0 and h.rule_matches(rule):
                rule["left"] -= 1
                op["fail"] = {"code": rule.get("code", "ProvisioningFailed"),
                              "message": rule.get("message", "The operation failed.")}
                op["http_status"] = int(rule.get("status", 400))
                break
        st.ops[op["id"]] = op
        if op["need"] <= 0:
            self.finish(op)
        return op

    def finish(self, op):
        if op["status"] != "InProgress":
            return
        ok = op["fail"] is None
        op["status"] = "Succeeded" if ok else "Failed"
        op["error"] = op["fail"]
        op["end"] = now_iso()
        op["on_done"](ok, op)

    def advance(self, op):
        if op and op["status"] == "InProgress":
            op["polls"] += 1
            if op["polls"] >= op["need"]:
                self.finish(op)
            elif op.get("on_poll"):
                op["on_poll"](op)

    def lro_headers(self, h, op):
        a, loc = self.lro_urls(h, op)
        return {"Azure-AsyncOperation": a, "Location": loc, "Retry-After": str(self.st.config["retry_after"])}

    # ---------------------------------------------------------------- auth
    def token_endpoint(self, h, tenant):
        form = h.form()
        def err(status, error, code, desc):
            trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
            ts = now_iso(frac=False).replace("T", " ").replace("Z", "Z")
            return Reply(status, {"error": error,
                                  "error_description": "AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s"
                                  % (code, desc, trace, corr, ts),
                                  "error_codes": [code], "timestamp": ts, "trace_id": trace,
                                  "correlation_id": corr, "error_uri": "https://login.microsoftonline.com/error?code=%d" % code})
        if form is None:
            return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
        gt = form.get("grant_type")
        if not gt:
            return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
        if gt != "client_credentials":
            return err(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'." % gt)
        cid = form.get("client_id")
        if not cid:
            return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
        scope = form.get("scope")
        if not scope:
            return err(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
        if not scope.endswith("/.default") or " " in scope.strip():
            return err(400, "invalid_scope", 1002012,
                       "The provided value for scope %s is not valid. Client credential flows must have a scope value "
                       "with /.default suffixed to the resource identifier (application ID URI)." % scope)
        st = self.st
        if not any(t == tenant.lower() for t, _ in st.creds):
            return err(400, "invalid_request", 90002,
                       "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing "
                       "into the correct cloud." % tenant)
        cred = st.creds.get((tenant.lower(), cid.lower()))
        if "client_assertion" in form or "client_assertion_type" in form:
            if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
                return err(400, "invalid_request", 50027, "Invalid JWT token. The client_assertion_type is not supported.")
            if cred is None or not cred.get("federated_token") or form.get("client_assertion") != cred["federated_token"]:
                return err(401, "invalid_client", 700213,
                           "No matching federated identity record found for presented assertion subject. "
                           "Please check your federated identity credential Subject, Audience and Issuer against "
                           "the presented assertion.")
        elif "client_secret" in form:
            if cred is None:
                return err(400, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in the request is the "
                           "client secret value, not the client secret ID, for a secret added to app '%s'." % cid)
            if not cred.get("secret") or form.get("client_secret") != cred["secret"]:
                return err(401, "invalid_client", 7000215,
                           "Invalid client secret provided. Ensure the secret being sent in the request is the "
                           "client secret value, not the client secret ID, for a secret added to app '%s'." % cid)
        else:
            return err(401, "invalid_client", 7000218,
                       "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
        life = int(st.config["token_lifetime"])
        tok = self.issue(scope[:-len(".default")], tenant, cid, life)
        return Reply(200, {"token_type": "Bearer", "expires_in": life, "ext_expires_in": life, "access_token": tok},
                     {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"})

    def issue(self, aud, tenant, cid, life):
        aud = self.st.config.get("token_audience") or aud
        now = int(time.time())
        def b64(b):
            return base64.urlsafe_b64encode(b).decode().rstrip("=")
        header = {"typ": "JWT", "alg": "HS256", "kid": "armsim"}
        oid = str(uuid.uuid5(uuid.NAMESPACE_URL, "armsim:%s:%s" % (tenant.lower(), cid.lower())))
        claims = {"aud": aud[:-1] if aud.endswith("/") else aud, "iss": "https://sts.windows.net/%s/" % tenant,
                  "iat": now, "nbf": now - 300, "exp": now + life, "tid": tenant, "appid": cid, "oid": oid,
                  "sub": oid, "idtyp": "app", "ver": "1.0", "uti": b64(os.urandom(12))}
        signed = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + \
            b64(json.dumps(claims, separators=(",", ":")).encode())
        tok = signed + "." + b64(hmac.new(self.st.jwt_key, signed.encode(), hashlib.sha256).digest())
        self.st.tokens[tok] = {"exp": time.time() + life, "aud": aud, "tenant": tenant, "client_id": cid}
        return tok

    def imds(self, h):
        def err(desc, error="invalid_request", status=400):
            return Reply(status, {"error": error, "error_description": desc})
        if h.headers.get("Metadata", "").lower() != "true":
            return err("Required metadata header not specified")
        if "X-Forwarded-For" in h.headers:
            return err("Request contains X-Forwarded-For header", status=400)
        v = h.query.get("api-version")
        if not v:
            return err("Required query variable 'api-version' is missing")
        if v not in IMDS_API_VERSIONS:
            return err("Invalid api-version '%s'" % v, error="invalid_request")
        res = h.query.get("resource")
        if not res:
            return err("Required audience parameter not specified")
        st = self.st
        cid = h.query.get("client_id")
        if cid:
            if cid.lower() not in st.msi_users and not (st.msi_system and cid.lower() == st.msi_system_client_id):
                return err("Identity not found")
        elif st.msi_system:
            cid = st.msi_system_client_id
        elif len(st.msi_users) == 1:
            cid = next(iter(st.msi_users))
        elif len(st.msi_users) > 1:
            return err("Multiple user assigned identities exist, please specify the clientId / resourceId of "
                       "the identity in the token request")
        else:
            return err("Identity not found")
        life = int(st.config["token_lifetime"])
        now = int(time.time())
        tok = self.issue(res, "imds", cid, life)
        return Reply(200, {"access_token": tok, "client_id": cid, "expires_in": str(life),
                           "expires_on": str(now + life), "ext_expires_in": str(life), "not_before": str(now),
                           "resource": res, "token_type": "Bearer"})

    def check_auth(self, h):
        auth = h.headers.get("Authorization")
        def fail(code, msg, desc):
            return ArmError(401, code, msg, headers={
                "WWW-Authenticate": 'Bearer authorization_uri="https://login.microsoftonline.com/common", '
                                    'error="invalid_token", error_description="%s"' % desc})
        if not auth:
            raise fail("AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.",
                       "The authentication failed because of missing 'Authorization' header.")
        m = re.match(r"(?i)bearer\s+(\S+)\s*$", auth)
        if not m:
            raise fail("AuthenticationFailed",
                       "Authentication failed. The 'Authorization' header is provided in an invalid format.",
                       "The authentication failed because the 'Authorization' header is in an invalid format.")
        t = self.st.tokens.get(m.group(1))
        if t is None:
            raise fail("InvalidAuthenticationToken", "The access token is invalid.",
                       "The access token is invalid.")
        now = time.time()
        if now >= t["exp"]:
            raise fail("ExpiredAuthenticationToken",
                       "The access token expiry UTC time '%s' is earlier than current UTC time '%s'."
                       % (us_time(t["exp"]), us_time(now)), "The access token has expired.")
        if t["aud"] not in ARM_AUDIENCES:
            raise fail("InvalidAuthenticationToken",
                       "The access token has been obtained for wrong audience or resource '%s'. It should exactly "
                       "match with one of the allowed audiences '%s'." % (t["aud"], "','".join(ARM_AUDIENCES)),
                       "The access token has been obtained for wrong audience or resource.")

    def check_api_version(self, h, area):
        v = h.query.get("api-version")
        if v is None or v == "":
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        if v not in API_VERSIONS[area]:
            raise ArmError(400, "InvalidApiVersionParameter",
                           "The api-version '%s' is invalid. The supported versions are '%s'."
                           % (v, ",".join(sorted(API_VERSIONS[area], reverse=True))))
        return v

    # ---------------------------------------------------------------- routing
    def routes(self):
        return [
            (RGP + r"$", "resources", self.rg),
            (ACI + r"$", "aci", self.aci_list),
            (SUB + r"/providers/microsoft\.containerinstance/containergroups$", "aci", self.aci_list_sub),
            (ACI + "/" + SEG + r"$", "aci", self.aci),
            (TM + r"$", "tm", self.tm_list),
            (TM + "/" + SEG + r"$", "tm", self.tm_profile),
            (TM + "/" + SEG + r"/(azureendpoints|externalendpoints|nestedendpoints)/" + SEG + r"$", "tm", self.tm_endpoint),
            (STA + r"/fileservices/default/shares$", "storage", self.share_list),
            (STA + r"/fileservices/default/shares/" + SEG + r"$", "storage", self.share),
            (STA + r"/listkeys$", "storage", self.list_keys),
            (RGP + r"/providers/microsoft\.compute/virtualmachinescalesets$", "compute", self.vmss_list),
            (VMSS + r"$", "compute", self.vmss_one),
            (VMSS + r"/virtualmachines$", "compute", self.vmss_vms),
            (VMSS + r"/delete$", "compute", self.vmss_delete_instances),
            (VMSS + r"/virtualmachines/" + SEG + r"$", "compute", self.vmss_vm),
            (SUB + r"/providers/(microsoft\.\w+)/locations/" + SEG + r"/(operations|operationresults)/" + SEG + r"$",
             None, self.operation),
        ]

    def arm(self, h):
        with self.st.lock:
            self.check_auth(h)
        for rx, area, fn in self.routes():
            m = re.match(rx, h.path, re.I)
            if m:
                if area is None:
                    ns = m.group(2).lower()
                    if ns not in OP_PROVIDERS:
                        break
                    area = OP_PROVIDERS[ns][0]
                v = self.check_api_version(h, area)
                with self.st.lock:
                    self.st.req_seq += 1
                    self.st.cur_req = self.st.req_seq
                    try:
                        return fn(h, v, *m.groups())
                    finally:
                        self.st.cur_req = None
                        self.health_sync()
        if not h.query.get("api-version"):
            raise ArmError(400, "MissingApiVersionParameter",
                           "The api-version query parameter (?api-version=) is required for all requests.")
        raise ArmError(404, "InvalidResourceType",
                       "The resource type could not be found for path '%s' and api version '%s'."
                       % (h.path, h.query.get("api-version")))

    @staticmethod
    def method_not_allowed(h):
        return ArmError(405, "HttpMethodNotAllowed",
                        "The requested resource does not support http method '%s'." % h.command)

    # ---------------------------------------------------------------- operations (LRO status)
    def operation(self, h, v, sub, ns, loc, which, op_id):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        op = self.st.ops.get(op_id)
        if op is None or op["sub"].lower() != sub.lower():
            raise ArmError(404, "OperationNotFound", "The operation '%s' could not be found." % op_id)
        self.advance(op)
        if which.lower() == "operations":
            body = {"id": "/subscriptions/%s/providers/%s/locations/%s/operations/%s"
                          % (op["sub"], op["ns"], op["location"] or "global", op["id"]),
                    "name": op["id"], "status": op["status"], "startTime": op["start"]}
            if op["end"]:
                body["endTime"] = op["end"]
            if op["error"]:
                body["error"] = dict(op["error"])
            return Reply(200, body)
        # Location polling: 202 while running, then the outcome as if the operation were synchronous.
        if op["status"] == "InProgress":
            a, l = self.lro_urls(h, op)
            return Reply(202, None, {"Location": l, "Retry-After": str(self.st.config["retry_after"])})
        if op["status"] == "Failed":
            raise ArmError(op["http_status"], op["error"]["code"], op["error"]["message"])
        if op["method"] in ("PUT", "PATCH"):
            r = self.render_final(op)
            if r is not None:
                return Reply(200, r)
        return Reply(204)

    def render_final(self, op):
        kind, key = op["kind"], op["key"]
        if kind == "aci" and key in self.st.cgs:
            return self.aci_render(self.st.cgs[key], view=True)
        if kind == "vmss" and key in self.st.vmss:
            return self.vmss_render(self.st.vmss[key])
        return None

    # ---------------------------------------------------------------- resource groups
    def rg_render(self, r):
        b = {"id": "/subscriptions/%s/resourceGroups/%s" % (r["sub"], r["name"]), "name": r["name"],
             "type": "Microsoft.Resources/resourceGroups", "location": r["location"],
             "properties": {"provisioningState": "Succeeded"}}
        if r.get("tags") is not None:
            b["tags"] = r["tags"]
        return b

    def rg(self, h, v, sub, name):
        key = (sub.lower(), name.lower())
        r = self.st.rgs.get(key)
        if h.command in ("GET", "HEAD"):
            if r is None:
                if h.command == "HEAD":
                    return Reply(404)
                self.rg_or_404(sub, name)
            if h.command == "HEAD":
                return Reply(204)
            return Reply(200, self.rg_render(r))
        if h.command == "PUT":
            body = h.json_body()
            if not body.get("location"):
                raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
            if not re.match(r"^[-\w._()]{1,90}$", name) or name.endswith("."):
                raise ArmError(400, "InvalidResourceGroupName",
                               "The resource group name '%s' is invalid." % name)
            created = r is None
            if created:
                r = self.ensure_rg(sub, name, body["location"])
            elif norm_location(body["location"]) != r["location"]:
                raise ArmError(409, "InvalidResourceGroupLocation",
                               "Invalid resource group location '%s'. The Resource group already exists in location "
                               "'%s'." % (norm_location(body["location"]), r["location"]))
            if "tags" in body:
                r["tags"] = body["tags"]
            return Reply(201 if created else 200, self.rg_render(r))
        raise self.method_not_allowed(h)

    # ---------------------------------------------------------------- container instances
    def aci_id(self, c):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerInstance/containerGroups/%s" % (
            c["sub"], c["rg"], c["name"])

    def aci_render(self, c, view):
        b = copy.deepcopy(c["body"])
        props = b.setdefault("properties", {})
        for k in ("provisioningState", "instanceView", "isCreatedFromStandbyPool"):
            props.pop(k, None)
        out = {"id": self.aci_id(c), "name": c["name"], "type": "Microsoft.ContainerInstance/containerGroups",
               "location": c["location"]}
        for k in ("tags", "zones", "identity"):
            if b.get(k) is not None:
                out[k] = b[k]
        if c.get("tags") is not None:
            out["tags"] = c["tags"]
        if "identity" in out and isinstance(out["identity"], dict):
            ident = out["identity"]
            if "SystemAssigned" in ident.get("type", ""):
                ident.setdefault("principalId", c["principal"])
                ident.setdefault("tenantId", "72f988bf-86f1-41af-91ab-2d7cd011db47")
            for ua in (ident.get("userAssignedIdentities") or {}).values():
                if isinstance(ua, dict):
                    ua.setdefault("principalId", c["principal"])
                    ua.setdefault("clientId", c["principal"])
        props.setdefault("sku", "Standard")
        props.setdefault("restartPolicy", "Always")
        running = c["state"] == "Succeeded"
        if running and view and c.get("slow_reads", 0) > 0:
            c["slow_reads"] -= 1     # provisioned, the image still being pulled
            running = False
            if c["slow_reads"] == 0:
                c["started"], c["run_t"] = now_iso(), self.st.clock.now()
        ph = None
        if running and view and not c.get("exit"):
            self.crash_update(c)
            if c.get("crash"):
                ph = self.crash_phase(c, self.st.clock.now())
        for ct in props.get("containers") or []:
            cp = ct.setdefault("properties", {})
            for ev in cp.get("environmentVariables") or []:
                ev.pop("secureValue", None)
            cp.pop("instanceView", None)
            if view:
                if ph is not None:
                    cp["instanceView"] = self.crash_view(c, ph)
                    continue
                if running and c.get("exit"):
                    # Restart policy Always: the container exited and is being restarted.
                    cs = {"state": "Terminated", "exitCode": c["exit"]["code"], "detailStatus": "Error",
                          "startTime": c["started"], "finishTime": c["started"]}
                    cp["instanceView"] = {"restartCount": 3, "currentState": cs,
                                          "events": [{"count": 4, "firstTimestamp": c["started"],
                                                      "lastTimestamp": c["started"], "name": "Started",
                                                      "message": "Started container", "type": "Normal"},
                                                     {"count": 3, "firstTimestamp": c["started"],
                                                      "lastTimestamp": c["started"], "name": "BackOff",
                                                      "message": c["exit"]["message"], "type": "Warning"}]}
                    continue
                if running:
                    cs = {"state": "Running", "startTime": c["started"], "detailStatus": ""}
                elif c["state"] == "Failed":
                    cs = {"state": "Waiting", "detailStatus": c.get("error_code") or ""}
                else:
                    cs = {"state": "Waiting", "detailStatus": "ContainerCreating"}
                cp["instanceView"] = {"restartCount": 0, "currentState": cs, "events": []}
        for ct in props.get("initContainers") or []:
            for ev in (ct.get("properties") or {}).get("environmentVariables") or []:
                ev.pop("secureValue", None)
        for vol in props.get("volumes") or []:
            if isinstance(vol.get("azureFile"), dict):
                vol["azureFile"].pop("storageAccountKey", None)
            if "secret" in vol:
                vol["secret"] = {}
        for cred in props.get("imageRegistryCredentials") or []:
            cred.pop("password", None)
        la = (props.get("diagnostics") or {}).get("logAnalytics")
        if isinstance(la, dict):
            la.pop("workspaceKey", None)
        ip = props.get("ipAddress")
        if isinstance(ip, dict):
            for p in ip.get("ports") or []:
                p.setdefault("protocol", "TCP")
            if ip.get("type", "").lower() == "public":
                ip["ip"] = c["ip"]
            elif ip.get("type", "").lower() == "private":
                ip["ip"] = "10.0.0.%d" % (4 + c["seq"] % 250)
            if ip.get("dnsNameLabel"):
                ip.setdefault("autoGeneratedDomainNameLabelScope", "Unsecure")
                ip["fqdn"] = "%s.%s.azurecontainer.io" % (ip["dnsNameLabel"], c["location"])
        props["provisioningState"] = c["state"]
        if view:
            gs = "Running" if running else ("Failed" if c["state"] == "Failed" else "Pending")
            if ph is not None and ph["state"] == "terminated":
                gs = "Succeeded" if c["crash"]["code"] == 0 else "Failed"   # restart policy Never/OnFailure
            props["instanceView"] = {"events": [], "state": gs}
        out["properties"] = props
        return out

    def crash_view(self, c, ph):
        """A container's instance view in the crash loop of fault exit_after, as ACI shows it: after
        an exit the container is Terminated (exit code, detailStatus Error) for the first half of
        the back-off, then Waiting "CrashLoopBackOff: Back-off restarting failed" with the
        termination as previousState (recorded); restartCount counts the restarts done."""
        cr, w = c["crash"], self.st.clock.wall

        def term(start, finish):
            return {"state": "Terminated", "startTime": now_iso(w(start)), "exitCode": cr["code"],
                    "finishTime": now_iso(w(finish)), "detailStatus": "Error" if cr["code"] else "Completed"}
        iv = {"restartCount": ph["restarts"]}
        if ph["state"] == "running":
            iv["currentState"] = {"state": "Running", "startTime": now_iso(w(ph["start"])), "detailStatus": ""}
            if ph["prev"]:
                iv["previousState"] = term(*ph["prev"])
        elif ph["state"] == "terminated":
            iv["currentState"] = term(ph["start"], ph["exit"])
        elif ph["in_backoff"] < cr["backoff"] / 2:
            iv["currentState"] = term(ph["start"], ph["exit"])
            if ph["prev"]:
                iv["previousState"] = term(*ph["prev"])
        else:
            iv["currentState"] = {"state": "Waiting", "detailStatus": "CrashLoopBackOff: Back-off restarting failed"}
            iv["previousState"] = term(ph["start"], ph["exit"])
        events = [{"count": ph["restarts"] + 1, "firstTimestamp": now_iso(w(c["run_t"])),
                   "lastTimestamp": now_iso(w(ph["start"])),
                   "name": "Started", "message": "Started container", "type": "Normal"}]
        if ph["exits"] and cr["restarts"]:
            events.append({"count": ph["exits"], "firstTimestamp": now_iso(w(cr["first_exit"])),
                           "lastTimestamp": now_iso(w(ph["exit"])), "name": "BackOff", "message": cr["message"],
                           "type": "Warning"})
        iv["events"] = events
        return iv

    def aci_lookup(self, sub, rg, name):
        self.rg_or_404(sub, rg)
        c = self.st.cgs.get((sub.lower(), rg.lower(), name.lower()))
        if c is None:
            raise not_found("Microsoft.ContainerInstance/containerGroups", name, rg)
        return c

    def aci_op_of(self, c):
        return self.st.ops.get(c.get("op")) if c.get("op") else None

    def aci_list(self, h, v, sub, rg):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        self.rg_or_404(sub, rg)
        items = [self.aci_render(c, view=False) for k, c in self.st.cgs.items()
                 if k[0] == sub.lower() and k[1] == rg.lower()]
        return Reply(200, self.page(h, items, v))

    def aci_list_sub(self, h, v, sub):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        items = [self.aci_render(c, view=False) for k, c in self.st.cgs.items() if k[0] == sub.lower()]
        return Reply(200, self.page(h, items, v))

    def aci_validate(self, body, name):
        if not re.match(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", name) or "--" in name:
            raise ArmError(400, "ContainerGroupNameInvalid",
                           "The container group name '%s' is invalid. The name must contain no more than 63 "
                           "characters and only lowercase letters, numbers and '-'; it cannot start or end with "
                           "'-' or contain '--'." % name)
        if not body.get("location"):
            raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
        props = body.get("properties")
        if not isinstance(props, dict):
            raise bad_json("Required property 'properties' not found in JSON. Path ''")
        cts = props.get("containers")
        if not isinstance(cts, list) or not cts:
            raise bad_json("Required property 'containers' not found in JSON. Path 'properties'")
        if props.get("osType") not in ("Linux", "Windows"):
            raise bad_json("Required property 'osType' not found in JSON. Path 'properties'")
        if props.get("restartPolicy", "Always") not in ("Always", "OnFailure", "Never"):
            raise ArmError(400, "InvalidRequestContent", "The restart policy '%s' is invalid." % props["restartPolicy"])
        names = set()
        for i, ct in enumerate(cts):
            cp = (ct or {}).get("properties") or {}
            if not ct.get("name") or not cp.get("image"):
                raise bad_json("Required property 'name' or 'image' not found in JSON. Path 'properties.containers[%d]'" % i)
            if ct["name"] in names:
                raise ArmError(400, "DuplicateContainerName",
                               "Container name '%s' is duplicated in container group '%s'." % (ct["name"], name))
            names.add(ct["name"])
            req = ((cp.get("resources") or {}).get("requests")) or {}
            if not isinstance(req.get("cpu"), (int, float)) or not isinstance(req.get("memoryInGB"), (int, float)):
                raise bad_json("Required property 'cpu' or 'memoryInGB' not found in JSON. "
                               "Path 'properties.containers[%d].properties.resources.requests'" % i)
            for ev in cp.get("environmentVariables") or []:
                if not ev.get("name"):
                    raise bad_json("Required property 'name' not found in JSON. Path "
                                   "'properties.containers[%d].properties.environmentVariables'" % i)
        vols = {vv.get("name") for vv in props.get("volumes") or []}
        for vv in props.get("volumes") or []:
            af = vv.get("azureFile")
            if af is not None and (not af.get("shareName") or not af.get("storageAccountName")):
                raise bad_json("Required property 'shareName' or 'storageAccountName' not found in JSON. "
                               "Path 'properties.volumes'")
        for ct in cts:
            for vm in (ct.get("properties") or {}).get("volumeMounts") or []:
                if vm.get("name") not in vols:
                    raise ArmError(400, "InvalidVolumeMount",
                                   "The volume mount '%s' of container '%s' does not match any volume in the "
                                   "container group." % (vm.get("name"), ct["name"]))
        ip = props.get("ipAddress")
        if ip is not None:
            if ip.get("type") not in ("Public", "Private") or not isinstance(ip.get("ports"), list) or not ip["ports"]:
                raise bad_json("Required property 'type' or 'ports' not found in JSON. Path 'properties.ipAddress'")

    @staticmethod
    def aci_shape(body):
        p = body.get("properties") or {}
        res = {ct.get("name"): json.dumps(((ct.get("properties") or {}).get("resources")), sort_keys=True)
               for ct in p.get("containers") or []}
        ip = p.get("ipAddress") or {}
        return (p.get("osType"), p.get("restartPolicy", "Always"), res, ip.get("type"),
                json.dumps(p.get("subnetIds"), sort_keys=True))

    def aci(self, h, v, sub, rg, name):
        st = self.st
        key = (sub.lower(), rg.lower(), name.lower())
        if h.command == "GET":
            c = self.aci_lookup(sub, rg, name)
            self.advance(self.aci_op_of(c))
            c = self.aci_lookup(sub, rg, name)     # a delete may just have completed
            return Reply(200, self.aci_render(c, view=True))
        if h.command == "PUT":
            r = self.rg_or_404(sub, rg)
            body = h.json_body()
            self.aci_validate(body, name)
            old = st.cgs.get(key)
            if old is not None:
                if old["state"] == "Deleting":
                    raise ArmError(409, "ContainerGroupTransitioning",
                                   "The container group '%s' is still transitioning, please retry later." % name)
                o, n = self.aci_shape(old["body"]), self.aci_shape(body)
                res_changed = any(o[2].get(k) != val for k, val in n[2].items() if k in o[2])
                if o[0] != n[0] or o[1] != n[1] or o[3] != n[3] or o[4] != n[4] or res_changed or \
                        norm_location(body["location"]) != old["location"]:
                    raise ArmError(409, "InvalidContainerGroupUpdate",
                                   "The updates on container group '%s' are invalid. If you are going to update the "
                                   "os type, restart policy, network profile, CPU, memory or GPU resources for a "
                                   "container group, you must delete it first and then create a new one." % name)
            label = ((body.get("properties") or {}).get("ipAddress") or {}).get("dnsNameLabel")
            if label:
                for k, c2 in st.cgs.items():
                    if k != key and c2["location"] == norm_location(body["location"]) and \
                            ((c2["body"].get("properties") or {}).get("ipAddress") or {}).get("dnsNameLabel", "").lower() == label.lower():
                        raise ArmError(400, "InvalidDnsNameLabel",
                                       "The DNS name label '%s' is already in use in region '%s'."
                                       % (label, c2["location"]))
            seq = st.next_seq()
            c = {"sub": sub, "rg": r["name"] if old is None else old["rg"], "name": name if old is None else old["name"],
                 "location": norm_location(body["location"]), "body": copy.deepcopy(body), "tags": body.get("tags"),
                 "state": "Pending" if old is None else "Updating", "seq": seq if old is None else old["seq"],
                 "ip": old["ip"] if old else "20.%d.%d.%d" % (50 + seq // 65536 % 150, seq // 256 % 256, seq % 250 + 4),
                 "principal": old["principal"] if old else str(uuid.uuid4()), "started": None, "op": None,
                 "exit": None, "run_t": None, "crash": None}
            # Fault "container_exit": the group provisions, but its containers keep exiting.
            for rule in st.faults:
                if rule.get("action") == "container_exit" and rule["left"] != 0 and h.rule_matches(rule):
                    rule["left"] -= 1
                    c["exit"] = {"code": int(rule.get("exit_code", 1)),
                                 "message": rule.get("message", "Back-off restarting failed container")}
                    break
            for rule in st.faults:
                if rule.get("action") == "slow_start" and rule["left"] != 0 and h.rule_matches(rule):
                    rule["left"] -= 1
                    c["slow_reads"] = int(rule.get("reads", 3))
                    break
            st.cgs[key] = c

            def done(ok, op, c=c):
                if st.cgs.get(key) is not c:
                    return
                c["state"] = "Succeeded" if ok else "Failed"
                c["error_code"] = None if ok else op["error"]["code"]
                if ok:
                    c["started"] = now_iso()
                    if not c.get("slow_reads"):
                        c["run_t"] = st.clock.now()     # the containers start
            op = self.start_lro(h, "aci", key, "Microsoft.ContainerInstance", c["location"], sub, v, done)
            c["op"] = op["id"]

            def progress(op, c=c):
                if st.cgs.get(key) is c and c["state"] == "Pending":
                    c["state"] = "Creating"      # recorded: Pending in the PUT answer, then Creating
            op["on_poll"] = progress
            status = 201 if old is None else 200
            return Reply(status, self.aci_render(c, view=False), self.lro_headers(h, op))
        if h.command == "PATCH":
            c = self.aci_lookup(sub, rg, name)
            body = h.json_body()
            if "tags" in body:
                c["tags"] = body["tags"]
                c["body"]["tags"] = body["tags"]
            return Reply(200, self.aci_render(c, view=True))
        if h.command == "DELETE":
            self.rg_or_404(sub, rg)
            c = st.cgs.get(key)
            if c is None:
                return Reply(204)
            if st.config["lro_polls"] <= 0:
                body = self.aci_render(c, view=False)
                del st.cgs[key]
                return Reply(200, body)
            prev = c["state"]
            c["state"] = "Deleting"

            def done(ok, op, c=c):
                if st.cgs.get(key) is not c:
                    return
                if ok:
                    del st.cgs[key]
                else:
                    c["state"] = "Failed" if prev != "Succeeded" else prev
            op = self.start_lro(h, "aci", key, "Microsoft.ContainerInstance", c["location"], sub, v, done)
            c["op"] = op["id"]
            if op["status"] == "Succeeded":
                return Reply(200, self.aci_render(c, view=False) if key in st.cgs else None)
            return Reply(202, None, self.lro_headers(h, op))
        raise self.method_not_allowed(h)

    # ---------------------------------------------------------------- health of targets
    # A Traffic Manager target is healthy when it is the FQDN of a container group that exists,
    # is provisioned and runs its containers, and no health fault applies. The parts that change
    # only through requests (the "static" health) are recorded per FQDN in a timeline at the end
    # of every request (health_sync); the part that changes by itself, the crash loop of fault
    # exit_after, is computed from the group's schedule. So the health at any past instant, as a
    # Traffic Manager probe at that instant would have seen it, is known (health_at).

    def fqdn_of(self, c):
        ip = (c["body"].get("properties") or {}).get("ipAddress") or {}
        label = ip.get("dnsNameLabel")
        return ("%s.%s.azurecontainer.io" % (label.lower(), c["location"])) if label else None

    @staticmethod
    def norm_host(h):
        return (h or "").strip().lower().rstrip(".")

    @staticmethod
    def is_aci_fqdn(t):
        return t.endswith(".azurecontainer.io")

    def group_rules(self, action, c):
        out = []
        for r in self.st.faults:
            if r.get("action") != action:
                continue
            if r.get("group") is not None and r["group"].lower() != c["name"].lower():
                continue
            if r.get("group_regex") is not None and not re.search(r["group_regex"], c["name"]):
                continue
            out.append(r)
        return out

    def crash_update(self, c):
        """Fault exit_after: gives a running group its crash schedule once (first exit `seconds`
        after its containers started, or after the rule was set if that is later); when no rule
        matches any more, the loop ends (`until`): the containers run on after the current back-off."""
        if c.get("exit") or c.get("run_t") is None or c["state"] != "Succeeded":
            return
        rules = self.group_rules("exit_after", c)
        cr = c.get("crash")
        if cr is None and rules:
            r = rules[0]
            policy = ((c["body"].get("properties") or {}).get("restartPolicy")) or "Always"
            code = int(r.get("exit_code", 1))
            run = float(r.get("seconds", 0))
            c["crash"] = {"first_exit": max(c["run_t"], r["t"]) + run, "run": run,
                          "backoff": float(r.get("backoff_seconds", 10)), "code": code,
                          "restarts": policy == "Always" or (policy == "OnFailure" and code != 0),
                          "until": None, "message": r.get("message", "Back-off restarting failed container")}
        elif cr is not None and cr["until"] is None and not rules:
            cr["until"] = self.st.clock.now()

    def crash_phase(self, c, t):
        """Where the crash loop of group c is at simulated time t: {"state": running | backoff |
        terminated, "restarts", "exits", "start" (of the current/last run), "exit" (last exit),
        "prev" ((start, finish) of the run before the last one, or None), "in_backoff" (seconds)}."""
        cr, run_t = c["crash"], c["run_t"]
        e0, cyc, b = cr["first_exit"], cr["run"] + cr["backoff"], cr["backoff"]

        def exits(x, strict=False):
            if x < e0 or (strict and x <= e0):
                return 0
            if not cr["restarts"]:
                return 1
            k = (x - e0) / cyc
            n = int(k) + 1
            if strict and k == int(k):
                n -= 1
            return n

        def run_start(i):
            return run_t if i == 0 else e0 + (i - 1) * cyc + b

        n = exits(t)
        if cr["until"] is not None:
            n = min(n, exits(cr["until"], strict=True))
        if n == 0:
            return {"state": "running", "restarts": 0, "exits": 0, "start": run_t, "exit": None, "prev": None}
        if not cr["restarts"]:
            return {"state": "terminated", "restarts": 0, "exits": 1, "start": run_t, "exit": e0, "prev": None}
        e = e0 + (n - 1) * cyc
        if t < e + b:
            prev = (run_start(n - 2), e - cyc) if n >= 2 else None
            return {"state": "backoff", "restarts": n - 1, "exits": n, "start": run_start(n - 1), "exit": e,
                    "prev": prev, "in_backoff": t - e}
        return {"state": "running", "restarts": n, "exits": n, "start": e + b, "exit": e,
                "prev": (run_start(n - 1), e)}

    def static_health(self, c):
        """(ok, reason): the health of group c that only requests change."""
        if c["state"] != "Succeeded":
            return False, "provisioningState %s" % c["state"]
        if c.get("slow_reads", 0) > 0:
            return False, "containers waiting (image being pulled)"
        if c.get("exit"):
            return False, "containers exiting with code %d (fault container_exit)" % c["exit"]["code"]
        if self.group_rules("probe_fails", c):
            return False, "fault probe_fails"
        steps = self.st.fqdn_steps.get(self.fqdn_of(c) or "", 0)
        for r in self.group_rules("unhealthy_at_step", c):
            if steps >= int(r["step"]):
                return False, "fault unhealthy_at_step: weight %d of %d set" % (steps, int(r["step"]))
        return True, "running"

    def running_at(self, c, t):
        return not c.get("crash") or self.crash_phase(c, t)["state"] == "running"

    def health_sync(self):
        st = self.st
        now = st.clock.now()
        cur = {}
        for c in st.cgs.values():
            f = self.fqdn_of(c)
            if not f:
                continue
            self.crash_update(c)
            cur[f] = c if self.static_health(c)[0] else None
        for f in set(cur) | set(st.health):
            val = cur.get(f)
            tl = st.health.setdefault(f, [])
            if not tl or tl[-1][1] is not val:
                tl.append((now, val))
            if len(tl) > 64:       # probes look back (toleratedNumberOfFailures+1) intervals at most
                while len(tl) > 2 and tl[1][0] < now - 4000:
                    del tl[0]

    def health_at(self, f, t):
        for ts, c in reversed(self.st.health.get(f) or []):
            if ts <= t:
                return c is not None and self.running_at(c, t)
        return False

    def target_health(self, f):
        """(group record or None, healthy, reason) of target FQDN f now."""
        c = next((c for c in self.st.cgs.values() if self.fqdn_of(c) == f), None)
        if c is None:
            return None, False, "no container group has this FQDN"
        self.crash_update(c)
        ok, why = self.static_health(c)
        if ok and c.get("crash"):
            ph = self.crash_phase(c, self.st.clock.now())
            if ph["state"] != "running":
                ok, why = False, "containers terminated with code %d (fault exit_after), %d restarts" % (
                    c["crash"]["code"], ph["restarts"])
        return c, ok, why

    # ---------------------------------------------------------------- traffic manager
    def tm_profile_id(self, p):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Network/trafficManagerProfiles/%s" % (
            p["sub"], p["rg"], p["name"])

    ETYPES = {"azureendpoints": "azureEndpoints", "externalendpoints": "externalEndpoints",
              "nestedendpoints": "nestedEndpoints"}

    @staticmethod
    def tm_monitor_settings(p):
        mc = p["props"].get("monitorConfig") or {}
        iv = mc.get("intervalInSeconds") or 30
        tol = mc.get("toleratedNumberOfFailures")
        return float(iv), max(0, int(3 if tol is None else tol))

    def tm_ep_status(self, p, e):
        """endpointMonitorStatus, computed now. Probes of an endpoint happen at since + k*interval
        (k >= 1; since: when its monitoring (re)started); each sees the target's health at that
        instant. CheckingEndpoint until a probe succeeds or tolerated+1 probes in a row failed;
        then Online after a successful probe, Degraded after tolerated+1 failed ones in a row."""
        props = e["props"]
        if props.get("endpointStatus", "Enabled") == "Disabled":
            return "Disabled"
        if p["props"].get("profileStatus", "Enabled") == "Disabled":
            return "Inactive"
        if props.get("alwaysServe") == "Enabled":
            return "Unmonitored"
        mon = e.get("mon") or {}
        t = mon.get("target") or ""
        if not self.is_aci_fqdn(t):
            # Not a simulated container group: not probed; Online, except in the answer of the
            # request that (re)started its monitoring.
            return "CheckingEndpoint" if mon.get("req") is not None and mon.get("req") == self.st.cur_req \
                else "Online"
        now = self.st.clock.now()
        since = mon.get("since")
        since = now if since is None else since
        iv, tol = self.tm_monitor_settings(p)
        k = int((now - since) / iv)
        fails = 0
        while k >= 1:
            if self.health_at(t, since + k * iv):
                return "Online"
            fails += 1
            if fails >= tol + 1:
                return "Degraded"
            k -= 1
        return "CheckingEndpoint"

    def tm_ep_render(self, p, e):
        props = copy.deepcopy(e["props"])
        props.setdefault("endpointStatus", "Enabled")
        props.setdefault("weight", 1)
        props["endpointMonitorStatus"] = self.tm_ep_status(p, e)
        if e["type"] == "azureEndpoints" and props.get("targetResourceId") and not props.get("target"):
            props["target"] = props["targetResourceId"].rstrip("/").split("/")[-1].lower() + ".cloudapp.net"
        return {"id": "%s/%s/%s" % (self.tm_profile_id(p), e["type"], e["name"]), "name": e["name"],
                "type": "Microsoft.Network/trafficManagerProfiles/%s" % e["type"], "properties": props}

    @staticmethod
    def tm_profile_status(profile_status, statuses):
        """profileMonitorStatus from the endpoints' statuses (Traffic Manager docs, "Profile monitor
        status"): Disabled profile -> Disabled; any Degraded -> Degraded; any Online (or
        Unmonitored) -> Online; any CheckingEndpoint -> CheckingEndpoints; else Inactive."""
        if profile_status == "Disabled":
            return "Disabled"
        if "Degraded" in statuses:
            return "Degraded"
        if "Online" in statuses or "Unmonitored" in statuses:
            return "Online"
        if "CheckingEndpoint" in statuses:
            return "CheckingEndpoints"
        return "Inactive"

    def tm_render(self, p):
        props = copy.deepcopy(p["props"])
        props.setdefault("profileStatus", "Enabled")
        dns = props.setdefault("dnsConfig", {})
        dns["fqdn"] = "%s.trafficmanager.net" % dns.get("relativeName", p["name"]).lower()
        dns.setdefault("ttl", 30)
        mc = props.setdefault("monitorConfig", {})
        mc.setdefault("protocol", "HTTP")
        mc.setdefault("port", 80 if mc["protocol"] != "HTTPS" else 443)
        if mc["protocol"] != "TCP":
            mc.setdefault("path", "/")
        mc.setdefault("intervalInSeconds", 30)
        mc.setdefault("timeoutInSeconds", 10)
        mc.setdefault("toleratedNumberOfFailures", 3)
        eps = [self.tm_ep_render(p, e) for e in p["endpoints"]]
        props["endpoints"] = eps
        mc["profileMonitorStatus"] = self.tm_profile_status(
            props["profileStatus"], [e["properties"]["endpointMonitorStatus"] for e in eps])
        props.setdefault("trafficViewEnrollmentStatus", "Disabled")
        return {"id": self.tm_profile_id(p), "name": p["name"], "type": "Microsoft.Network/trafficManagerProfiles",
                "location": "global", "tags": p.get("tags") or {}, "properties": props}

    def tm_monitor(self, p, e, old=None, restart=False):
        """Gives endpoint e (just written into profile p) its monitor record, from the record of the
        endpoint it replaces (old). Monitoring (re)starts for a new endpoint, a changed target, a
        re-enabled endpoint or profile (restart) and when alwaysServe is turned off; otherwise the
        replaced endpoint's history is kept (a weight change does not reset it). Also counts the
        weights given to the target (fault unhealthy_at_step): 1 for a new endpoint or target,
        +1 for every write that changes the weight."""
        st = self.st
        props = e["props"]
        t = self.norm_host(props.get("target"))
        om = (old or {}).get("mon")
        monitored = props.get("endpointStatus", "Enabled") != "Disabled" and \
            p["props"].get("profileStatus", "Enabled") != "Disabled" and props.get("alwaysServe") != "Enabled"
        w = props.get("weight") or 1
        mon = {"target": t, "since": None, "req": None, "weight": w, "steps": 1}
        if om is not None and om.get("target") == t:
            mon["steps"] = om["steps"] + (1 if w != om.get("weight") else 0)
            if monitored and om.get("since") is not None and not restart:
                mon["since"], mon["req"] = om["since"], om["req"]
        if monitored and mon["since"] is None:
            mon["since"], mon["req"] = st.clock.now(), st.cur_req
        e["mon"] = mon
        if t:
            st.fqdn_steps[t] = max(st.fqdn_steps.get(t, 0), mon["steps"])

    def tm_list(self, h, v, sub, rg):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        self.rg_or_404(sub, rg)
        items = []
        for k, p in self.st.profiles.items():
            if k[0] == sub.lower() and k[1] == rg.lower():
                items.append(self.tm_render(p))
        return Reply(200, self.page(h, items, v))

    def tm_check_endpoint(self, p, etype, name, props, others):
        if etype == "externalEndpoints" and not props.get("target"):
            raise ArmError(400, "BadRequest", "The 'target' property of endpoint '%s' is required for "
                                              "ExternalEndpoints." % name)
        if etype in ("azureEndpoints", "nestedEndpoints") and not props.get("targetResourceId"):
            raise ArmError(400, "BadRequest", "The 'targetResourceId' property of endpoint '%s' is required "
                                              "for %s." % (name, etype[0].upper() + etype[1:]))
        w = props.get("weight")
        if w is not None and (not isinstance(w, int) or isinstance(w, bool) or not 1 <= w <= 1000):
            raise ArmError(400, "BadRequest", "The weight of endpoint '%s' must be an integer between 1 and "
                                              "1000." % name)
        pr = props.get("priority")
        if pr is not None and (not isinstance(pr, int) or isinstance(pr, bool) or not 1 <= pr <= 1000):
            raise ArmError(400, "BadRequest", "The priority of endpoint '%s' must be an integer between 1 and "
                                              "1000." % name)
        if pr is not None and any(o["props"].get("priority") == pr for o in others):
            raise ArmError(400, "BadRequest", "Endpoint priorities must be unique within a profile; priority %d "
                                              "of endpoint '%s' is already in use." % (pr, name))
        if props.get("endpointStatus", "Enabled") not in ("Enabled", "Disabled"):
            raise ArmError(400, "BadRequest", "The endpoint status '%s' is invalid." % props["endpointStatus"])
        if p["props"].get("trafficRoutingMethod") == "Performance" and etype != "azureEndpoints" and \
                not props.get("endpointLocation"):
            raise ArmError(400, "BadRequest", "The 'endpointLocation' property of endpoint '%s' is required for "
                                              "profiles with the Performance traffic routing method." % name)

    def tm_endpoints_from_body(self, p, eps):
        out = []
        for e in eps or []:
            tstr = (e.get("type") or "").split("/")[-1].lower()
            etype = self.ETYPES.get(tstr)
            if etype is None:
                raise ArmError(400, "BadRequest", "The endpoint type '%s' is invalid." % e.get("type"))
            if not e.get("name"):
                raise ArmError(400, "BadRequest", "Endpoint name is required.")
            props = dict(e.get("properties") or {})
            props.pop("endpointMonitorStatus", None)
            self.tm_check_endpoint(p, etype, e["name"], props, out)
            out.append({"type": etype, "name": e["name"], "props": props})
        for e in out:
            self.tm_default_priority(e, out)
        return out

    def tm_monitor_all(self, p, old, restart=False):
        """Monitor records for all endpoints of profile p, written over profile `old` (or None)."""
        for e in p["endpoints"]:
            prev = next((o for o in (old or {}).get("endpoints") or []
                         if o["type"] == e["type"] and o["name"].lower() == e["name"].lower()), None)
            self.tm_monitor(p, e, prev, restart)

    @staticmethod
    def tm_default_priority(e, all_eps):
        if e["props"].get("priority") is None:
            used = [o["props"].get("priority") or 0 for o in all_eps if o is not e]
            e["props"]["priority"] = max(used + [0]) + 1

    def tm_validate_profile(self, props, name):
        if props.get("trafficRoutingMethod") not in ("Performance", "Priority", "Weighted", "Geographic",
                                                     "MultiValue", "Subnet"):
            raise ArmError(400, "BadRequest", "The traffic routing method '%s' of profile '%s' is invalid."
                           % (props.get("trafficRoutingMethod"), name))
        if props.get("profileStatus", "Enabled") not in ("Enabled", "Disabled"):
            raise ArmError(400, "BadRequest", "The profile status '%s' is invalid." % props.get("profileStatus"))
        dns = props.get("dnsConfig") or {}
        rn = dns.get("relativeName")
        if not rn or not re.match(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$", rn):
            raise ArmError(400, "BadRequest", "The relative DNS name '%s' of profile '%s' is invalid." % (rn, name))
        ttl = dns.get("ttl")
        if ttl is not None and (not isinstance(ttl, int) or not 0 <= ttl <= 2147483647):
            raise ArmError(400, "BadRequest", "The DNS TTL must be between 0 and 2147483647 seconds.")
        mc = props.get("monitorConfig") or {}
        if mc.get("protocol", "HTTP") not in ("HTTP", "HTTPS", "TCP"):
            raise ArmError(400, "BadRequest", "The monitor protocol '%s' is invalid." % mc.get("protocol"))
        port = mc.get("port")
        if port is not None and (not isinstance(port, int) or not 1 <= port <= 65535):
            raise ArmError(400, "BadRequest", "The monitor port must be between 1 and 65535.")
        iv = mc.get("intervalInSeconds")
        if iv is not None and iv not in (10, 30):
            raise ArmError(400, "BadRequest", "The monitoring interval must be 10 or 30 seconds.")

    def tm_profile_lookup(self, sub, rg, name, parent=False):
        self.rg_or_404(sub, rg)
        p = self.st.profiles.get((sub.lower(), rg.lower(), name.lower()))
        if p is None:
            if parent:
                raise ArmError(404, "ParentResourceNotFound",
                               "Can not perform requested operation on nested resource. Parent resource '%s' "
                               "not found." % name)
            raise not_found("Microsoft.Network/trafficManagerProfiles", name, rg)
        return p

    def tm_profile(self, h, v, sub, rg, name):
        st = self.st
        key = (sub.lower(), rg.lower(), name.lower())
        if h.command == "GET":
            p = self.tm_profile_lookup(sub, rg, name)
            return Reply(200, self.tm_render(p))
        if h.command == "PUT":
            r = self.rg_or_404(sub, rg)
            body = h.json_body()
            if body.get("location") and body["location"].lower() != "global":
                raise ArmError(400, "BadRequest", "The location '%s' is invalid for Traffic Manager profiles; it "
                                                  "must be 'global'." % body["location"])
            props = dict(body.get("properties") or {})
            self.tm_validate_profile(props, name)
            rn = props["dnsConfig"]["relativeName"].lower()
            for k, o in st.profiles.items():
                if k != key and (o["props"].get("dnsConfig") or {}).get("relativeName", "").lower() == rn:
                    raise ArmError(409, "Conflict", "The relative DNS name '%s' is not available; it is already "
                                                    "used by another profile." % rn)
            old = st.profiles.get(key)
            p = {"sub": sub, "rg": old["rg"] if old else r["name"], "name": old["name"] if old else name,
                 "tags": body.get("tags"), "props": props, "endpoints": []}
            eps = props.pop("endpoints", None)
            props.get("monitorConfig", {}).pop("profileMonitorStatus", None)
            props.get("dnsConfig", {}).pop("fqdn", None)
            p["endpoints"] = self.tm_endpoints_from_body(p, eps)
            self.tm_monitor_all(p, old, restart=old is not None and self.tm_reenabled(old, p))
            st.profiles[key] = p
            return Reply(201 if old is None else 200, self.tm_render(p))
        if h.command == "PATCH":
            p = self.tm_profile_lookup(sub, rg, name)
            body = h.json_body()
            newp = copy.deepcopy(p)
            if "tags" in body:
                newp["tags"] = body["tags"]
            bp = dict(body.get("properties") or {})
            eps = bp.pop("endpoints", None)
            for k, val in bp.items():
                if isinstance(val, dict) and isinstance(newp["props"].get(k), dict):
                    newp["props"][k].update(val)
                else:
                    newp["props"][k] = val
            newp["props"].get("monitorConfig", {}).pop("profileMonitorStatus", None)
            newp["props"].get("dnsConfig", {}).pop("fqdn", None)
            self.tm_validate_profile(newp["props"], name)
            if eps is not None:
                newp["endpoints"] = self.tm_endpoints_from_body(newp, eps)
            self.tm_monitor_all(newp, p, restart=self.tm_reenabled(p, newp))
            st.profiles[key] = newp
            return Reply(200, self.tm_render(newp))
        if h.command == "DELETE":
            self.rg_or_404(sub, rg)
            if st.profiles.pop(key, None) is None:
                return Reply(204)
            return Reply(200)
        raise self.method_not_allowed(h)

    @staticmethod
    def tm_reenabled(old, new):
        return old["props"].get("profileStatus", "Enabled") == "Disabled" and \
            new["props"].get("profileStatus", "Enabled") != "Disabled"

    def tm_endpoint(self, h, v, sub, rg, pname, etype_raw, ename):
        etype = self.ETYPES[etype_raw.lower()]
        p = self.tm_profile_lookup(sub, rg, pname, parent=True)
        idx = next((i for i, e in enumerate(p["endpoints"])
                    if e["type"] == etype and e["name"].lower() == ename.lower()), None)
        if h.command == "GET":
            if idx is None:
                raise not_found("Microsoft.Network/trafficManagerProfiles/%s" % etype, ename, rg)
            return Reply(200, self.tm_ep_render(p, p["endpoints"][idx]))
        if h.command in ("PUT", "PATCH"):
            body = h.json_body()
            bprops = dict(body.get("properties") or {})
            bprops.pop("endpointMonitorStatus", None)
            if h.command == "PATCH":
                if idx is None:
                    raise not_found("Microsoft.Network/trafficManagerProfiles/%s" % etype, ename, rg)
                props = dict(p["endpoints"][idx]["props"])
                props.update(bprops)
            else:
                props = bprops
            others = [e for i, e in enumerate(p["endpoints"]) if i != idx]
            self.tm_check_endpoint(p, etype, ename, props, others)
            e = {"type": etype, "name": p["endpoints"][idx]["name"] if idx is not None else ename, "props": props}
            self.tm_default_priority(e, others)
            self.tm_monitor(p, e, p["endpoints"][idx] if idx is not None else None)
            if idx is None:
                p["endpoints"].append(e)
            else:
                p["endpoints"][idx] = e
            # Recorded: endpoint PUT answers 201 even when it replaces an existing endpoint.
            return Reply(201 if h.command == "PUT" else 200, self.tm_ep_render(p, e))
        if h.command == "DELETE":
            if idx is None:
                return Reply(204)
            del p["endpoints"][idx]
            return Reply(200)
        raise self.method_not_allowed(h)

    # ---------------------------------------------------------------- storage
    def account_lookup(self, sub, rg, acct):
        self.rg_or_404(sub, rg)
        a = self.st.accounts.get((sub.lower(), rg.lower(), acct.lower()))
        if a is None:
            raise not_found("Microsoft.Storage/storageAccounts", acct, rg)
        return a

    def share_render(self, s):
        a = s["account"]
        return {"id": "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Storage/storageAccounts/%s/"
                      "fileServices/default/shares/%s" % (a["sub"], a["rg"], a["name"], s["name"]),
                "name": s["name"], "type": "Microsoft.Storage/storageAccounts/fileServices/shares",
                "etag": s["etag"], "properties": copy.deepcopy(s["props"])}

    def new_etag(self):
        return '"0x8DD%013X"' % (int(time.time() * 1000) * 1000 + self.st.next_seq() % 1000)

    def share_list(self, h, v, sub, rg, acct):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        a = self.account_lookup(sub, rg, acct)
        items = [self.share_render(s) for k, s in self.st.shares.items() if s["account"] is a]
        size = None
        extra = {}
        mps = h.query.get("$maxpagesize")
        if mps is not None:
            try:
                size = int(mps)
                assert size >= 1
            except Exception:
                raise ArmError(400, "InvalidQueryParameterValue",
                               "Value for one of the query parameters specified in the request URI is invalid.",
                               target="$maxpagesize")
            extra["$maxpagesize"] = size
        return Reply(200, self.page(h, items, v, page_size=size, extra=extra))

    def share_validate(self, a, name, props, h):
        if h.command == "PUT" and (not re.match(r"^[a-z0-9](?:[a-z0-9]|-(?!-)){1,61}[a-z0-9]$", name)):
            raise ArmError(400, "InvalidResourceName",
                           "The specified resource name contains invalid characters. Share names must be 3-63 "
                           "characters of lowercase letters, digits and single dashes, starting and ending with a "
                           "letter or digit.", target="shareName")
        q = props.get("shareQuota")
        if q is not None:
            limit = 102400 if a.get("large_file_shares") else 5120
            if not isinstance(q, int) or isinstance(q, bool) or not 1 <= q <= limit:
                raise ArmError(400, "InvalidParameter",
                               "The value for shareQuota must be between 1 and %d GiB." % limit, target="shareQuota")
        if props.get("accessTier") is not None and props["accessTier"] not in ("TransactionOptimized", "Hot", "Cool", "Premium"):
            raise ArmError(400, "InvalidParameter", "The access tier '%s' is invalid." % props["accessTier"],
                           target="accessTier")
        if props.get("enabledProtocols") is not None and props["enabledProtocols"] not in ("SMB", "NFS"):
            raise ArmError(400, "InvalidParameter", "The enabled protocol '%s' is invalid." % props["enabledProtocols"],
                           target="enabledProtocols")
        md = props.get("metadata")
        if md is not None and not isinstance(md, dict):
            raise ArmError(400, "InvalidParameter", "The metadata must be an object of strings.", target="metadata")

    WRITABLE_SHARE = ("shareQuota", "accessTier", "enabledProtocols", "metadata", "rootSquash",
                      "signedIdentifiers", "provisionedIops", "provisionedBandwidthMibps", "fileSharePaidBursting")

    def share(self, h, v, sub, rg, acct, name):
        st = self.st
        a = self.account_lookup(sub, rg, acct)
        key = (sub.lower(), rg.lower(), acct.lower(), name.lower())
        s = st.shares.get(key)
        if h.command == "GET":
            if s is None:
                raise ArmError(404, "ShareNotFound", "The specified share does not exist.")
            return Reply(200, self.share_render(s), {"ETag": s["etag"]})
        if h.command in ("PUT", "PATCH"):
            if h.command == "PATCH" and s is None:
                raise ArmError(404, "ShareNotFound", "The specified share does not exist.")
            body = h.json_body()
            bprops = {k: val for k, val in (body.get("properties") or {}).items() if k in self.WRITABLE_SHARE}
            self.share_validate(a, name, bprops, h)
            created = s is None
            if created:
                s = {"account": a, "name": name, "props": {
                    "shareQuota": 102400 if a.get("large_file_shares") else 5120,
                    "accessTier": "TransactionOptimized", "enabledProtocols": "SMB"}}
                st.shares[key] = s
            elif "enabledProtocols" in bprops and bprops["enabledProtocols"] != s["props"]["enabledProtocols"]:
                raise ArmError(400, "InvalidParameter", "The enabled protocol of an existing share cannot be changed.",
                               target="enabledProtocols")
            if created or "accessTier" in bprops:
                s["props"]["accessTierChangeTime"] = now_iso(frac=False)
            s["props"].update(bprops)
            s["props"]["lastModifiedTime"] = now_iso(frac=False)
            s["props"]["leaseStatus"] = "unlocked"
            s["props"]["leaseState"] = "available"
            s["etag"] = self.new_etag()
            return Reply(201 if created else 200, self.share_render(s), {"ETag": s["etag"]})
        if h.command == "DELETE":
            if s is None:
                return Reply(204)
            del st.shares[key]
            return Reply(200)
        raise self.method_not_allowed(h)

    def list_keys(self, h, v, sub, rg, acct):
        if h.command != "POST":
            raise self.method_not_allowed(h)
        a = self.account_lookup(sub, rg, acct)
        return Reply(200, {"keys": [{"keyName": "key%d" % (i + 1), "value": k, "permissions": "Full",
                                     "creationTime": a["created"]} for i, k in enumerate(a["keys"])]})

    # ---------------------------------------------------------------- compute
    def vmss_id(self, s):
        return "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s" % (
            s["sub"], s["rg"], s["name"])

    def vmss_render(self, s):
        return {"name": s["name"], "id": self.vmss_id(s), "type": "Microsoft.Compute/virtualMachineScaleSets",
                "location": s["location"], "tags": copy.deepcopy(s["tags"]),
                "sku": {"name": s["sku"], "tier": "Standard", "capacity": s["capacity"]},
                "etag": '"%d"' % s["etag"],
                "properties": {
                    "singlePlacementGroup": True, "orchestrationMode": "Uniform",
                    "upgradePolicy": {"mode": "Manual"},
                    "virtualMachineProfile": {
                        "osProfile": {"computerNamePrefix": s["prefix"], "adminUsername": "azureuser",
                                      "linuxConfiguration": {"disablePasswordAuthentication": True},
                                      "secrets": [], "allowExtensionOperations": True},
                        "storageProfile": {"osDisk": {"osType": "Linux", "createOption": "FromImage",
                                                      "caching": "ReadWrite",
                                                      "managedDisk": {"storageAccountType": "Premium_LRS"},
                                                      "diskSizeGB": 30},
                                           "imageReference": {"publisher": "Debian", "offer": "debian-12",
                                                              "sku": "12-gen2", "version": "latest"}}},
                    "provisioningState": s["state"], "overprovision": False,
                    "doNotRunExtensionsOnOverprovisionedVMs": False, "uniqueId": s["unique"],
                    "platformFaultDomainCount": 5, "timeCreated": s["created"]}}

    def computer_name(self, s, vm):
        return s["prefix"] + base36(int(vm["iid"])).zfill(6)

    def run_instance_hook(self, action, s, vm):
        """The configured instance hook, synchronously; False when it failed."""
        hook = self.st.config.get("instance_hook")
        if not hook:
            return True
        argv = shlex.split(hook) + [action, s["name"], self.computer_name(s, vm)]
        try:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            sys.stderr.write("armsim: instance hook %s failed: %s\n" % (argv, e))
            return False
        if r.returncode != 0:
            sys.stderr.write("armsim: instance hook %s exited %d\n" % (argv, r.returncode))
        return r.returncode == 0

    def vm_render(self, s, vm):
        pp = {}
        if vm.get("protect_from_scale_in"):
            pp = {"protectionPolicy": {"protectFromScaleIn": True, "protectFromScaleSetActions": False}}
        return {"name": "%s_%s" % (s["name"], vm["iid"]), "id": "%s/virtualMachines/%s" % (self.vmss_id(s), vm["iid"]),
                "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines", "location": s["location"],
                "tags": copy.deepcopy(s["tags"]), "instanceId": vm["iid"],
                "sku": {"name": s["sku"], "tier": "Standard"},
                "etag": '"%d"' % vm["etag"],
                "properties": {"latestModelApplied": True, "vmId": vm["vmId"],
                               "hardwareProfile": {"vmSize": s["sku"]},
                               "osProfile": {"computerName": self.computer_name(s, vm),
                                             "adminUsername": "azureuser",
                                             "linuxConfiguration": {"disablePasswordAuthentication": True},
                                             "secrets": [], "allowExtensionOperations": True,
                                             "requireGuestProvisionSignal": True},
                               "provisioningState": vm["state"], "timeCreated": vm["created"], **pp}}

    def vmss_lookup(self, sub, rg, name):
        self.rg_or_404(sub, rg)
        s = self.st.vmss.get((sub.lower(), rg.lower(), name.lower()))
        if s is None:
            raise not_found("Microsoft.Compute/virtualMachineScaleSets", name, rg)
        return s

    def vmss_add_vm(self, s, state):
        iid = str(s["next_iid"])
        s["next_iid"] += 1
        s["vms"].append({"iid": iid, "vmId": str(uuid.uuid4()), "state": state, "created": now_iso(), "etag": 1})

    def vmss_list(self, h, v, sub, rg):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        self.rg_or_404(sub, rg)
        items = []
        for k, s in self.st.vmss.items():
            if k[0] == sub.lower() and k[1] == rg.lower():
                self.advance(self.st.ops.get(s.get("op")))
                items.append(self.vmss_render(s))
        return Reply(200, self.page(h, items, v))

    def vmss_one(self, h, v, sub, rg, name):
        s = self.vmss_lookup(sub, rg, name)
        if h.command == "GET":
            self.advance(self.st.ops.get(s.get("op")))
            return Reply(200, self.vmss_render(s), {"ETag": '"%d"' % s["etag"]})
        if h.command == "PATCH":
            im = h.headers.get("If-Match")
            cur = '"%d"' % s["etag"]
            if im is not None and im.strip() != "*" and cur not in [x.strip().replace("W/", "") for x in im.split(",")]:
                raise ArmError(412, "PreconditionFailed",
                               "Etag provided in if-match header %s does not match etag %s of resource." % (im, cur))
            if h.headers.get("If-None-Match", "").strip() == "*":
                raise ArmError(412, "PreconditionFailed", "The resource already exists (If-None-Match: *).")
            body = h.json_body()
            sku = body.get("sku") or {}
            cap = sku.get("capacity")
            if cap is not None and (not isinstance(cap, int) or isinstance(cap, bool) or not 0 <= cap <= 1000):
                raise ArmError(400, "InvalidParameter", "The value %r of parameter 'sku.capacity' is out of range. "
                                                        "The value must be between 0 and 1000, inclusive." % (cap,),
                               target="sku.capacity")
            if sku.get("name") and sku["name"] != s["sku"]:
                s["sku"] = sku["name"]
            if "tags" in body and body["tags"] is not None:
                s["tags"] = body["tags"]
            if cap is not None:
                s["capacity"] = cap
            s["etag"] += 1
            s["state"] = "Updating"
            while len([vm for vm in s["vms"]]) < s["capacity"]:
                self.vmss_add_vm(s, "Creating")
            key = (sub.lower(), rg.lower(), name.lower())

            def done(ok, op, s=s):
                if self.st.vmss.get(key) is not s or s.get("op") != op["id"]:
                    return
                if ok:
                    s["vms"].sort(key=lambda vm: int(vm["iid"]))
                    # default scale-in policy: highest instance id first, protected instances kept
                    victims = [vm for vm in s["vms"] if not vm.get("protect_from_scale_in")]
                    while len(s["vms"]) > s["capacity"] and victims:
                        vm = victims.pop()
                        self.run_instance_hook("delete", s, vm)
                        s["vms"].remove(vm)
                    s["capacity"] = max(s["capacity"], len(s["vms"]))
                    for vm in s["vms"]:
                        if vm["state"] == "Creating":
                            vm["state"] = "Succeeded" if self.run_instance_hook("create", s, vm) else "Failed"
                    s["state"] = "Succeeded"
                else:
                    for vm in s["vms"]:
                        if vm["state"] == "Creating":
                            vm["state"] = "Failed"
                    s["state"] = "Failed"
            op = self.start_lro(h, "vmss", key, "Microsoft.Compute", s["location"], sub, v, done)
            s["op"] = op["id"]
            if op["status"] != "InProgress":
                done(op["status"] == "Succeeded", op)
            hdr = self.lro_headers(h, op)
            hdr["ETag"] = '"%d"' % s["etag"]
            return Reply(200, self.vmss_render(s), hdr)
        raise self.method_not_allowed(h)

    def vmss_delete_instances(self, h, v, sub, rg, name):
        """POST .../virtualMachineScaleSets/NAME/delete {"instanceIds": [...]}: an LRO (202 with
        Azure-AsyncOperation and Location); the instances show Deleting until it completes, then are
        gone and the capacity is smaller by as many."""
        if h.command != "POST":
            raise self.method_not_allowed(h)
        s = self.vmss_lookup(sub, rg, name)
        body = h.json_body()
        ids = body.get("instanceIds") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ArmError(400, "InvalidParameter", "Required parameter 'instanceIds' is missing (null).",
                           target="instanceIds")
        if not ids:
            raise ArmError(400, "InvalidParameter", "The list of instance ids must not be empty.",
                           target="instanceIds")
        for i in ids:
            if not any(vm["iid"] == i for vm in s["vms"]):
                raise ArmError(400, "InvalidParameter",
                               "The provided instanceId %s is not an active Virtual Machine Scale Set VM instanceId." % i,
                               target="instanceIds")
        victims = [vm for vm in s["vms"] if vm["iid"] in ids]
        for vm in victims:
            vm["state"] = "Deleting"
        s["etag"] += 1
        s["state"] = "Updating"
        key = (sub.lower(), rg.lower(), name.lower())

        def done(ok, op, s=s, victims=victims):
            if self.st.vmss.get(key) is not s:
                return
            if ok:
                for vm in victims:
                    if vm in s["vms"]:
                        self.run_instance_hook("delete", s, vm)
                        s["vms"].remove(vm)
                s["capacity"] = len(s["vms"])
                s["state"] = "Succeeded"
            else:
                for vm in victims:
                    vm["state"] = "Failed"
                s["state"] = "Failed"
        op = self.start_lro(h, "vmss", key, "Microsoft.Compute", s["location"], sub, v, done)
        s["op"] = op["id"]
        if op["status"] != "InProgress":
            return Reply(200, None)
        return Reply(202, None, self.lro_headers(h, op))

    def vmss_vms(self, h, v, sub, rg, name):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        s = self.vmss_lookup(sub, rg, name)
        self.advance(self.st.ops.get(s.get("op")))
        items = [self.vm_render(s, vm) for vm in sorted(s["vms"], key=lambda vm: int(vm["iid"]))]
        return Reply(200, self.page(h, items, v))

    def vmss_vm(self, h, v, sub, rg, name, iid):
        if h.command != "GET":
            raise self.method_not_allowed(h)
        s = self.vmss_lookup(sub, rg, name)
        vm = next((vm for vm in s["vms"] if vm["iid"] == iid), None)
        if vm is None:
            raise not_found("Microsoft.Compute/virtualMachineScaleSets/%s/virtualMachines" % s["name"], iid, rg)
        return Reply(200, self.vm_render(s, vm))

    # ---------------------------------------------------------------- control API
    def control(self, h):
        st = self.st
        p = h.path.rstrip("/").lower()
        with st.lock:
            if p == "/_sim/reset" and h.command == "POST":
                st.reset()
                return Reply(200, {"ok": True})
            if p == "/_sim/log" and h.command == "GET":
                return Reply(200, [dict(e) for e in st.log])
            if p == "/_sim/probes" and h.command == "GET":
                return Reply(200, [dict(e) for e in st.probes])
            if p == "/_sim/state" and h.command == "GET":
                r = Reply(200, self.state_dump())
                self.health_sync()          # rendering instance views counts slow_start reads
                return r
            body = h.json_body(control=True)
            if p == "/_sim/credentials" and h.command == "POST":
                items = body if isinstance(body, list) else [body]
                for c in items:
                    if c.get("msi") is not None:
                        if not c["msi"]:
                            st.msi_system, st.msi_users = False, set()
                        elif c.get("client_id"):
                            st.msi_users.add(c["client_id"].lower())
                        else:
                            st.msi_system = True
                        continue
                    if not c.get("tenant") or not c.get("client_id"):
                        raise ArmError(400, "BadRequest", "tenant and client_id are required")
                    st.creds[(c["tenant"].lower(), c["client_id"].lower())] = {
                        "secret": c.get("client_secret"), "federated_token": c.get("federated_token")}
                return Reply(200, {"ok": True, "msi_system_client_id": st.msi_system_client_id})
            if p == "/_sim/config" and h.command == "POST":
                if "time_scale" in body:
                    k = body["time_scale"]
                    if isinstance(k, bool) or not isinstance(k, (int, float)) or not k > 0:
                        raise ArmError(400, "BadRequest", "time_scale must be a number > 0")
                    st.config["time_scale"] = k
                    st.clock.set_scale(k)
                for k in ("token_lifetime", "page_size", "lro_polls", "retry_after"):
                    if k in body:
                        st.config[k] = int(body[k])
                if "token_audience" in body:
                    if body["token_audience"] is not None and not isinstance(body["token_audience"], str):
                        raise ArmError(400, "BadRequest", "token_audience must be a string or null")
                    st.config["token_audience"] = body["token_audience"]
                if "instance_hook" in body:
                    if body["instance_hook"] is not None and not isinstance(body["instance_hook"], str):
                        raise ArmError(400, "BadRequest", "instance_hook must be a command line or null")
                    st.config["instance_hook"] = body["instance_hook"]
                if st.config["page_size"] < 1:
                    st.config["page_size"] = 1
                return Reply(200, dict(st.config))
            if p == "/_sim/seed" and h.command == "POST":
                for r in body.get("resource_groups") or []:
                    self.ensure_rg(r["subscription"], r["name"], r.get("location", "westus"))
                for a in body.get("storage_accounts") or []:
                    rg = self.ensure_rg(a["subscription"], a["resource_group"], a.get("location", "westus"))
                    st.accounts[(a["subscription"].lower(), a["resource_group"].lower(), a["name"].lower())] = {
                        "sub": a["subscription"], "rg": rg["name"], "name": a["name"],
                        "location": norm_location(a.get("location", "westus")),
                        "keys": list(a.get("keys") or [base64.b64encode(os.urandom(64)).decode() for _ in range(2)]),
                        "large_file_shares": bool(a.get("large_file_shares", False)), "created": now_iso()}
                for s in body.get("scale_sets") or []:
                    rg = self.ensure_rg(s["subscription"], s["resource_group"], s.get("location", "westus"))
                    rec = {"sub": s["subscription"], "rg": rg["name"], "name": s["name"],
                           "location": norm_location(s.get("location", "westus")), "sku": s.get("sku", "Standard_D2s_v3"),
                           "capacity": int(s.get("capacity", 0)), "tags": s.get("tags") or {}, "etag": 1,
                           "prefix": s.get("computer_name_prefix", s["name"]), "state": "Succeeded",
                           "unique": str(uuid.uuid4()), "created": now_iso(), "vms": [], "next_iid": 0, "op": None}
                    protect = set(str(i) for i in s.get("protect_from_scale_in") or [])
                    for _ in range(rec["capacity"]):
                        self.vmss_add_vm(rec, "Succeeded")
                        vm = rec["vms"][-1]
                        vm["protect_from_scale_in"] = vm["iid"] in protect
                        if not self.run_instance_hook("create", rec, vm):
                            vm["state"] = "Failed"
                    st.vmss[(s["subscription"].lower(), s["resource_group"].lower(), s["name"].lower())] = rec
                return Reply(200, self.state_dump())
            if p == "/_sim/faults" and h.command == "POST":
                rules = body.get("rules") if isinstance(body, dict) else body
                if not isinstance(rules, list):
                    raise ArmError(400, "BadRequest", 'faults: expected {"rules": [...]} or a list of rules')
                new = []
                for r in rules or []:
                    r = dict(r)
                    if r.get("action") not in REQUEST_ACTIONS + GROUP_ACTIONS:
                        raise ArmError(400, "BadRequest", "unknown fault action %r" % r.get("action"))
                    if r.get("path_regex"):
                        re.compile(r["path_regex"])
                    if r["action"] in GROUP_ACTIONS:
                        self.check_group_rule(r)
                        r["left"] = -1          # they hold until DELETE /_sim/faults
                        r["t"] = st.clock.now()
                    else:
                        r["left"] = int(r.get("times", 1))
                    new.append(r)
                st.faults.extend(new)
                self.health_sync()
                return Reply(200, {"rules": len(st.faults)})
            if p == "/_sim/faults" and h.command == "DELETE":
                st.faults = []
                self.health_sync()
                return Reply(200, {"rules": 0})
        return Reply(404, {"error": {"code": "NotFound", "message": "unknown control endpoint %s %s" % (h.command, h.path)}})

    @staticmethod
    def check_group_rule(r):
        def bad(msg):
            raise ArmError(400, "BadRequest", "fault %s: %s" % (r["action"], msg))
        if r.get("group") is None and r.get("group_regex") is None:
            bad("needs \"group\" (a container group name) or \"group_regex\"")
        if r.get("group") is not None and not isinstance(r["group"], str):
            bad("\"group\" must be a string")
        if r.get("group_regex") is not None:
            try:
                re.compile(r["group_regex"])
            except (re.error, TypeError) as e:
                bad("bad group_regex: %s" % e)

        def num(k, minimum, default=None, integer=False, strict=False):
            v = r.get(k, default)
            if v is None:
                bad("needs \"%s\"" % k)
            if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)) or \
                    v < minimum or (strict and v == minimum):
                bad("\"%s\" must be a%s number %s %s" % (k, "n integer" if integer else "",
                                                          ">" if strict else ">=", minimum))
        if r["action"] == "exit_after":
            num("seconds", 0)
            num("exit_code", 0, 1, integer=True)
            num("backoff_seconds", 0, 10, strict=True)
        if r["action"] == "unhealthy_at_step":
            num("step", 1, integer=True)

    def state_dump(self):
        st = self.st
        return {
            "config": dict(st.config),
            "resource_groups": [self.rg_render(r) for r in st.rgs.values()],
            "storage_accounts": [{"subscription": a["sub"], "resource_group": a["rg"], "name": a["name"],
                                  "location": a["location"], "keys": a["keys"],
                                  "large_file_shares": a["large_file_shares"]} for a in st.accounts.values()],
            "file_shares": [self.share_render(s) for s in st.shares.values()],
            # The stored request bodies, secrets included, so tests can check what a client sent.
            "container_groups": [dict(self.aci_render(c, view=True), stored=c["body"]) for c in st.cgs.values()],
            "traffic_manager_profiles": [self.tm_render(p) for p in st.profiles.values()],
            "scale_sets": [dict(self.vmss_render(s), virtualMachines=[self.vm_render(s, vm) for vm in s["vms"]])
                           for s in st.vmss.values()],
            "operations": [{"id": o["id"], "kind": o["kind"], "status": o["status"], "polls": o["polls"],
                            "error": o["error"]} for o in st.ops.values()],
            "faults": [{k: val for k, val in r.items()} for r in st.faults],
            "sim_time": st.clock.now(),
            "probe_port": self.probe_port,
            # The health of every container group FQDN and endpoint target, as the probe server
            # answers it now; steps: the most weights an endpoint targeting it was given.
            "targets": [self.target_dump(f) for f in sorted(self.known_targets())],
        }

    def known_targets(self):
        out = {self.fqdn_of(c) for c in self.st.cgs.values()} - {None}
        for p in self.st.profiles.values():
            for e in p["endpoints"]:
                t = (e.get("mon") or {}).get("target")
                if t and self.is_aci_fqdn(t):
                    out.add(t)
        return out

    def target_dump(self, f):
        c, ok, why = self.target_health(f)
        return {"fqdn": f, "group": c["name"] if c else None, "healthy": ok, "reason": why,
                "steps": self.st.fqdn_steps.get(f, 0)}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "armsim/1.0"
    # Headers and body go out in two writes: without this, a keep-alive client waits for the
    # delayed ACK (~40 ms) on every request.
    disable_nagle_algorithm = True
    sim = None  # set by main

    def log_message(self, fmt, *args):
        if os.environ.get("ARMSIM_VERBOSE"):
            sys.stderr.write("armsim: " + fmt % args + "\n")

    def base_url(self):
        return "http://" + (self.headers.get("Host") or "%s:%d" % self.server.server_address[:2])

    def form(self):
        try:
            return dict(parse_qsl(self.raw_body.decode("utf-8"), keep_blank_values=True))
        except Exception:
            return None

    def json_body(self, control=False):
        if not self.raw_body.strip():
            if control or self.command in ("PATCH", "POST"):
                return {}
            raise bad_json("The request body is empty")
        try:
            b = json.loads(self.raw_body.decode("utf-8"))
        except Exception as e:
            raise bad_json(str(e))
        if not isinstance(b, (dict, list)) or (not control and not isinstance(b, dict)):
            raise bad_json("The request body must be a JSON object")
        return b

    def rule_matches(self, rule):
        if rule.get("method") and rule["method"].upper() != self.command:
            return False
        if rule.get("path_regex") and not re.search(rule["path_regex"], self.path):
            return False
        return True

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "")
        if "chunked" in te.lower():
            chunks = []
            while True:
                line = self.rfile.readline().strip()
                n = int(line.split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline().strip():
                        pass
                    break
                chunks.append(self.rfile.read(n))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def log_body(self):
        if not self.raw_body:
            return None
        ct = (self.headers.get("Content-Type") or "").lower()
        if "x-www-form-urlencoded" in ct:
            f = self.form()
            return redact(f) if f is not None else "***"
        try:
            return redact(json.loads(self.raw_body.decode("utf-8")))
        except Exception:
            return "<%d bytes>" % len(self.raw_body)

    def handle_any(self):
        sim = self.sim
        st = sim.st
        parts = urlsplit(self.path)
        self.path = unquote(parts.path)
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.raw_body = self.read_body()
        if self.path.lower().startswith("/_sim/"):
            try:
                r = sim.control(self)
            except ArmError as e:
                r = Reply(e.status, e.body())
            except Exception as e:  # a bad control request
                r = Reply(400, {"error": {"code": "BadRequest", "message": "%s: %s" % (type(e).__name__, e)}})
            return self.send(r, arm=False)

        self.request_id = str(uuid.uuid4())
        self.correlation_id = self.headers.get("x-ms-correlation-request-id") or str(uuid.uuid4())
        entry = {"method": self.command, "path": self.path, "query": self.query, "status": None, "time": time.time(),
                 "client_request_id": self.headers.get("x-ms-client-request-id"),
                 "correlation_request_id": self.correlation_id, "body": self.log_body()}
        with st.lock:
            st.log.append(entry)
            rule = None
            for r in st.faults:
                if (r["action"] == "hold_writes" and self.command in ("PUT", "PATCH", "DELETE", "POST")
                        and self.path.lower().startswith("/subscriptions/")):
                    r["seen"] = r.get("seen", 0) + 1
                    if r["seen"] > int(r.get("after", 0)):
                        r["held"] = r.get("held", 0) + 1
                        rule = r
                        break
                if r["action"] in ("status", "drop", "delay") and r["left"] != 0 and self.rule_matches(r):
                    r["left"] -= 1
                    rule = r
                    break
        if rule is not None and rule["action"] == "hold_writes":
            # Held until the rule goes (DELETE /_sim/faults), then dropped unprocessed: the write
            # never reached Azure. Tests kill the client meanwhile.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with st.lock:
                    if not any(r is rule for r in st.faults):
                        break
                time.sleep(0.01)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if rule is not None:
            if rule["action"] == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if rule["action"] == "delay":
                time.sleep(int(rule.get("ms", 1000)) / 1000.0)
            elif rule["action"] == "status":
                status = int(rule.get("status", 500))
                code = rule.get("code") or {429: "TooManyRequests", 500: "InternalServerError",
                                            503: "ServiceUnavailable"}.get(status, "InternalServerError")
                msg = {429: "The request is being throttled. Number of requests exceeded the limit; please try "
                            "again after '%s' seconds." % rule.get("retry_after", 1),
                       503: "The service is temporarily unavailable. Please retry the request later."}.get(
                    status, "The server encountered an internal error. Please retry the request.")
                hdr = {}
                if rule.get("retry_after") is not None:
                    hdr["Retry-After"] = str(rule["retry_after"])
                entry["status"] = status
                return self.send(Reply(status, {"error": {"code": code, "message": rule.get("message", msg)}}, hdr))
        try:
            m = re.match(r"^/([^/]+)/oauth2/v2\.0/token$", self.path, re.I)
            if m:
                if self.command != "POST":
                    r = Reply(405, {"error": "invalid_request", "error_description": "AADSTS900561: The endpoint only "
                                    "accepts POST requests.", "error_codes": [900561]})
                else:
                    with st.lock:
                        r = sim.token_endpoint(self, m.group(1))
                arm = False
            elif self.path.lower() == "/metadata/identity/oauth2/token":
                with st.lock:
                    r = sim.imds(self) if self.command == "GET" else Reply(
                        405, {"error": "invalid_request", "error_description": "Method not allowed"})
                arm = False
            else:
                r = sim.arm(self)
                arm = True
        except ArmError as e:
            r = Reply(e.status, e.body(), e.headers)
            arm = True
        except Exception as e:
            import traceback
            sys.stderr.write("armsim bug: %s %s\n" % (self.command, self.path))
            traceback.print_exc()
            r = Reply(500, {"error": {"code": "InternalServerError", "message": "armsim bug: %s" % e}})
            arm = True
        entry["status"] = r.status
        self.send(r, arm=arm)

    def send(self, r, arm=True):
        body = b""
        if r.body is not None:
            body = json.dumps(r.body).encode("utf-8")
        self.send_response(r.status)
        hdr = {"Cache-Control": "no-cache", "Pragma": "no-cache"}
        if body:
            hdr["Content-Type"] = "application/json; charset=utf-8"
        if hasattr(self, "request_id"):
            hdr["x-ms-request-id"] = self.request_id
            hdr["x-ms-correlation-request-id"] = self.correlation_id
            hdr["x-ms-routing-request-id"] = "WESTUS:%s:%s" % (
                time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), self.request_id)
            if arm:
                kind = {"GET": "reads", "HEAD": "reads", "DELETE": "deletes"}.get(self.command, "writes")
                sub = re.match(r"^/subscriptions/([^/]+)", self.path, re.I)
                st = self.sim.st
                with st.lock:
                    k = ((sub.group(1).lower() if sub else ""), kind)
                    start = {"reads": 12000, "writes": 1200, "deletes": 15000}[kind]
                    st.counters[k] = max(0, st.counters.get(k, start) - 1)
                    hdr["x-ms-ratelimit-remaining-subscription-" + kind] = str(st.counters[k])
        hdr.update(r.headers)
        for k, v in hdr.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = handle_any


class ProbeHandler(BaseHTTPRequestHandler):
    """The containers' HTTP side: any method and path, dispatched on the Host header (<fqdn> or
    <fqdn>:<port>, case-insensitive): 200 "ok <group>" when the container group with that FQDN is
    healthy (the predicate Traffic Manager monitoring uses), 503 when it is not, 404 for a host no
    group has. Logged in GET /_sim/probes."""
    protocol_version = "HTTP/1.1"
    server_version = "armsim-probe/1.0"
    disable_nagle_algorithm = True
    sim = None

    def log_message(self, fmt, *args):
        if os.environ.get("ARMSIM_VERBOSE"):
            sys.stderr.write("armsim probe: " + fmt % args + "\n")

    def handle_any(self):
        sim = self.sim
        st = sim.st
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)
        host = self.headers.get("Host") or ""
        f = host.strip()
        m = re.match(r"^(.*?)(:\d+)?$", f)
        f = sim.norm_host(m.group(1) if m else f)
        with st.lock:
            sim.health_sync()
            c, ok, why = sim.target_health(f)
            if c is None:
                status, text = 404, "no container group has the host name %r" % f
            elif ok:
                status, text = 200, "ok %s" % c["name"]
            else:
                status, text = 503, "unavailable %s: %s" % (c["name"], why)
            st.probes.append({"method": self.command, "host": host, "path": self.path, "status": status,
                              "group": c["name"] if c else None, "time": now_iso(),
                              "sim_time": st.clock.now()})
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def write_port_file(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--page-size", type=int, default=100)
    ap.add_argument("--lro-polls", type=int, default=2)
    ap.add_argument("--token-lifetime", type=int, default=3599)
    ap.add_argument("--retry-after", type=int, default=0, help="Retry-After seconds on LRO responses")
    ap.add_argument("--time-scale", type=float, default=1.0,
                    help="monitor intervals and fault durations run this many times faster")
    ap.add_argument("--probe-port", type=int, default=0, help="the probe server's port (0: a free one)")
    ap.add_argument("--probe-port-file")
    ap.add_argument("--instance-hook", help="run as CMD create|delete SCALESET COMPUTERNAME per scale-set instance")
    a = ap.parse_args()
    if not a.time_scale > 0:
        ap.error("--time-scale must be > 0")
    sim = Sim({"page_size": max(1, a.page_size), "lro_polls": a.lro_polls,
               "token_lifetime": a.token_lifetime, "retry_after": a.retry_after,
               "time_scale": a.time_scale if a.time_scale != int(a.time_scale) else int(a.time_scale),
               "instance_hook": a.instance_hook})
    Handler.sim = ProbeHandler.sim = sim
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer.request_queue_size = 64  # clients open several connections at once
    probe = ThreadingHTTPServer(("127.0.0.1", a.probe_port), ProbeHandler)
    sim.probe_port = probe.server_address[1]
    threading.Thread(target=probe.serve_forever, name="probe", daemon=True).start()
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.probe_port_file:
        write_port_file(a.probe_port_file, sim.probe_port)
    if a.port_file:
        write_port_file(a.port_file, port)
    sys.stderr.write("armsim: listening on 127.0.0.1:%d, probe server on 127.0.0.1:%d\n" % (port, sim.probe_port))
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
