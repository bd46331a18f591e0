#!/usr/bin/python3
"""A tiny stand-in for a Prometheus server's HTTP query API, answering as Prometheus documents it.

Usage: prom_fake.py PORT ANSWERS_FILE LOG_FILE

GET (or POST, form-encoded) /api/v1/query?query=Q: ANSWERS_FILE (JSON, read on every request) maps
a query to what to answer:
  {"values": ["100", "130"]}   an instant vector, one sample per value, labels {"task": "<i>"}
  {"scalar": "230"}            a scalar
  {"error": ["bad_data", "parse error at char 4"], "status": 400}
A query not in the file gets the answer of an unknown series: an empty vector. A request without a
query parameter gets 400 bad_data, as Prometheus does. Each query asked is appended to LOG_FILE.
"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, ANSWERS, LOG = int(sys.argv[1]), sys.argv[2], sys.argv[3]


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def query(self, params):
        url = urllib.parse.urlparse(self.path)
        if url.path != "/api/v1/query":
            self.send_error(404)
            return
        q = params.get("query", [None])[0]
        if q is None:
            self.answer(400, {"status": "error", "errorType": "bad_data",
                              "error": 'invalid parameter "query": unknown position: parse error: no expression found in input'})
            return
        with open(LOG, "a") as f:
            f.write(q + "\n")
        with open(ANSWERS) as f:
            answers = json.load(f)
        a = answers.get(q, {"values": []})
        now = round(time.time(), 3)
        if "error" in a:
            self.answer(a.get("status", 400), {"status": "error", "errorType": a["error"][0], "error": a["error"][1]})
        elif "scalar" in a:
            self.answer(200, {"status": "success", "data": {"resultType": "scalar", "result": [now, a["scalar"]]}})
        else:
            result = [{"metric": {"task": str(i)}, "value": [now, v]} for i, v in enumerate(a["values"])]
            self.answer(200, {"status": "success", "data": {"resultType": "vector", "result": result}})

    def do_GET(self):
        self.query(urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query))

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.query(urllib.parse.parse_qs(self.rfile.read(n).decode()))


ThreadingHTTPServer(("127.0.0.1", PORT), Handler).serve_forever()
