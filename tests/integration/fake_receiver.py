#!/usr/bin/python3
"""A local stand-in for the receivers of berth run's notifications and for the forges' commit
status endpoints (stdlib only). Every request is appended to LOG as one JSON line:
{"method", "path", "headers" (lower-cased names), "body", "status" (what was answered), "problems"}.

Modes:
  --fail-first N     answer 500 to the first N requests, then 204 (retries)
  --hang             read the request and never answer (a receiver that hangs)
  --forge F --token T  GitHub, GitLab or Gitea: check the request as the forge documents it
                     (method, path, auth header, content type, body fields and values); answer
                     201 with the created status as the forge does, or the forge's error answer
                     (401 for a wrong token, 404 for a wrong path, 422/400 for a wrong body), and
                     list what was wrong in "problems"

The port it listens on (127.0.0.1) is written to PORTFILE once it accepts connections."""
import argparse
import json
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("log")
p.add_argument("portfile")
p.add_argument("--fail-first", type=int, default=0)
p.add_argument("--hang", action="store_true")
p.add_argument("--forge", choices=["github", "gitlab", "gitea"])
p.add_argument("--token", default="")
p.add_argument("--prefix", default="", help="the API base's path, e.g. /api/v3")
args = p.parse_args()

lock = threading.Lock()
seen = [0]

# The forges' documented requests: path pattern, auth header, the body's fields and states.
FORGES = {
    "github": dict(path=r"/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})",
                   auth=("authorization", "Bearer "), states={"error", "failure", "pending", "success"},
                   fields={"state", "target_url", "description", "context"}, required={"state"}),
    "gitea": dict(path=r"/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})",
                  auth=("authorization", "token "), states={"pending", "success", "error", "failure", "warning"},
                  fields={"state", "target_url", "description", "context"}, required={"state"}),
    "gitlab": dict(path=r"/projects/([^/]+)/statuses/([0-9a-f]{40})",
                   auth=("private-token", ""), states={"pending", "running", "success", "failed", "canceled"},
                   fields={"state", "ref", "name", "context", "target_url", "description", "coverage",
                           "pipeline_id"}, required={"state"}),
}


def forge_check(method, path, headers, body):
    """(status, answer, problems) as the forge would answer."""
    f = FORGES[args.forge]
    problems = []
    if method != "POST":
        problems.append("method %s" % method)
    if not path.startswith(args.prefix) or not re.fullmatch(f["path"], path[len(args.prefix):]):
        return 404, {"message": "Not Found"}, problems + ["path %s" % path]
    name, scheme = f["auth"]
    got = headers.get(name, "")
    if got != scheme + args.token:
        return 401, {"message": "Bad credentials" if args.forge == "github" else "401 Unauthorized"}, \
            problems + ["auth header %s" % ("missing" if not got else "wrong")]
    if args.forge == "github":
        if headers.get("accept") != "application/vnd.github+json":
            problems.append("accept %r" % headers.get("accept"))
        if headers.get("x-github-api-version") != "2022-11-28":
            problems.append("x-github-api-version %r" % headers.get("x-github-api-version"))
    if not headers.get("content-type", "").startswith("application/json"):
        problems.append("content-type %r" % headers.get("content-type"))
    try:
        doc = json.loads(body)
    except ValueError:
        return 400, {"message": "Problems parsing JSON"}, problems + ["body is not JSON"]
    unknown = set(doc) - f["fields"]
    if unknown:
        problems.append("unknown fields %s" % sorted(unknown))
    for k in f["required"] - set(doc):
        problems.append("missing %s" % k)
    if doc.get("state") not in f["states"]:
        problems.append("state %r" % doc.get("state"))
    if args.forge == "github" and len(doc.get("description", "")) > 140:
        problems.append("description longer than 140")
    if problems:
        if args.forge == "gitlab":
            return 400, {"message": "400 Bad request - " + "; ".join(problems)}, problems
        return 422, {"message": "Validation Failed", "errors": problems}, problems
    sha = path.rsplit("/", 1)[1]
    created = {"id": seen[0], "state" if args.forge != "gitlab" else "status": doc["state"],
               "description": doc.get("description"), "target_url": doc.get("target_url"),
               "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if args.forge == "gitlab":
        created.update(sha=sha, name=doc.get("name", "default"))
    else:
        created["context"] = doc.get("context", "default")
    return 201, created, problems


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        with lock:
            seen[0] += 1
            k = seen[0]
        entry = {"method": self.command, "path": self.path, "headers": headers, "body": body,
                 "time": time.time(), "problems": []}
        if args.hang:
            entry["status"] = None
            self.record(entry)
            time.sleep(3600)
            return
        if args.forge:
            status, answer, entry["problems"] = forge_check(self.command, self.path, headers, body)
        else:
            status, answer = (500, {"error": "boom"}) if k <= args.fail_first else (204, None)
        entry["status"] = status
        self.record(entry)
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_PATCH = do_POST

    def record(self, entry):
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = True
with open(args.portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.portfile + ".tmp", args.portfile)
srv.serve_forever()
