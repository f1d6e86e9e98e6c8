#!/usr/bin/env python3
"""The floor for the load test: a quick proxy the way one is often written.
Fetches the feed once, then filters and JSON-encodes per request."""
import json, sys, urllib.request
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

feed_url, port = sys.argv[1], int(sys.argv[2])
PLANS = json.load(urllib.request.urlopen(feed_url))["plans"]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        out = PLANS
        if "country" in q:
            want = set(q["country"].upper().split(","))
            out = [p for p in out if want <= set(p["locationCodes"])]
        for key, field, op in (("min_gb", "dataAmount", float.__ge__), ("max_gb", "dataAmount", float.__le__),
                               ("min_price", "retailPrice", float.__ge__), ("max_price", "retailPrice", float.__le__)):
            if key in q:
                bound = float(q[key]); out = [p for p in out if op(float(p[field]), bound)]
        out = sorted(out, key=lambda p: (p["retailPrice"], p["packageCode"]))
        off, lim = int(q.get("offset", 0)), int(q.get("limit", 50))
        ref = q.get("ref")
        page = []
        for p in out[off:off + lim]:
            p = dict(p)
            if ref: p["productUrl"] += ("&" if "?" in p["productUrl"] else "?") + "ref=" + ref
            p["pricePerGb"] = p["retailPrice"] / p["dataAmount"] if p["dataAmount"] else None
            page.append(p)
        body = json.dumps({"plans": page, "total": len(out), "limit": lim, "offset": off}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
