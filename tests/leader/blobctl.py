#!/usr/bin/python3
"""Lease Blob by hand, for the leader-lease tests: Shared Key signed as the Blob service documents
(the string-to-sign of version 2009-09-19 and later), written apart from berth's C code so that
the tests do not check berth's signing with itself. Standard library only.

  blobctl.py URL KEYFILE break [PERIOD]   x-ms-lease-action: break; prints the HTTP status
  blobctl.py URL KEYFILE props            prints lease state, status and x-ms-meta-* as JSON
  blobctl.py URL KEYFILE sas              prints an account SAS query (version 2021-12-02,
                                          blob service, every resource type, rwdlac, a day)
URL is path style (http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB, the emulator)."""
import base64
import email.utils
import hashlib
import hmac
import http.client
import json
import sys
import time
import urllib.parse

VERSION = "2021-12-02"


def call(url, key, verb, query, headers):
    u = urllib.parse.urlsplit(url)
    account = u.path.lstrip("/").split("/", 1)[0]
    headers = dict(headers)
    headers["x-ms-date"] = email.utils.formatdate(usegmt=True)
    headers["x-ms-version"] = VERSION
    ms = sorted((k.lower(), v.strip()) for k, v in headers.items() if k.lower().startswith("x-ms-"))
    canon_headers = "".join(f"{k}:{v}\n" for k, v in ms)
    canon_resource = f"/{account}{u.path}" + "".join(f"\n{k.lower()}:{v}" for k, v in sorted(query.items()))
    length = headers.get("Content-Length", "")
    sts = "\n".join([verb, "", "", "" if length in ("", "0") else length, "", headers.get("Content-Type", ""),
                     "", "", "", "", "", ""]) + "\n" + canon_headers + canon_resource
    sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
    headers["Authorization"] = f"SharedKey {account}:{sig}"
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    path = u.path + ("?" + urllib.parse.urlencode(query) if query else "")
    conn.request(verb, path, body=b"" if verb == "PUT" else None, headers=headers)
    r = conn.getresponse()
    r.read()
    return r


def main():
    url, keyfile, op = sys.argv[1], sys.argv[2], sys.argv[3]
    key = open(keyfile).read().strip()
    if op == "break":
        h = {"x-ms-lease-action": "break", "Content-Length": "0"}
        if len(sys.argv) > 4:
            h["x-ms-lease-break-period"] = sys.argv[4]
        r = call(url, key, "PUT", {"comp": "lease"}, h)
        print(r.status, r.getheader("x-ms-error-code") or "")
    elif op == "props":
        r = call(url, key, "HEAD", {}, {})
        out = {"status": r.status, "lease_state": r.getheader("x-ms-lease-state"),
               "lease_status": r.getheader("x-ms-lease-status")}
        out.update({k.lower()[10:]: v for k, v in r.getheaders() if k.lower().startswith("x-ms-meta-")})
        print(json.dumps(out))
    elif op == "sas":
        # Account SAS, version 2020-12-06 and later: one field a line, in this order, and a
        # final newline (the encryption scope, empty).
        account = urllib.parse.urlsplit(url).path.lstrip("/").split("/", 1)[0]
        expiry = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 86400))
        f = {"sv": VERSION, "ss": "b", "srt": "sco", "sp": "rwdlac", "se": expiry, "spr": "https,http"}
        sts = "\n".join([account, f["sp"], f["ss"], f["srt"], "", f["se"], "", f["spr"], f["sv"], "", ""])
        f["sig"] = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
        print(urllib.parse.urlencode(f))
    else:
        sys.exit("blobctl: break, props or sas")


if __name__ == "__main__":
    main()
