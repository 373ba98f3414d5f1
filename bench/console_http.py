"""Console pages timed from a client over HTTP, a new connection per request (as a browser's first
request sees them), against a running `helpdesk serve` on the 1M-ticket database:

    HELPDESK_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/helpdesk_bench helpdesk serve --port 8795 &
    python -m bench.console_http
"""
import re, statistics, subprocess, sys, time, os, random
import httpx
URL = "http://127.0.0.1:8795"
def p(xs, q): xs = sorted(xs); return xs[min(len(xs)-1, int(q*len(xs)))]
with httpx.Client(base_url=URL) as c:
    page = c.get("/console/login")
    tok = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post("/console/login", data={"email": "agent01@bench.test", "password": "bench-password", "_csrf_token": tok, "next": "/console"})
    cookies = dict(c.cookies)
ids = [random.randint(1, 1_000_000) for _ in range(200)]
def timed(path):
    t = time.perf_counter()
    with httpx.Client(base_url=URL, cookies=cookies) as c:  # a new connection per request
        r = c.get(path)
    return (time.perf_counter() - t) * 1000, r.status_code
for name, paths in (("ticket page", [f"/console/tickets/{i}" for i in ids]),
                    ("queue page", ["/console/queues/open"] * 200),
                    ("search page", [f"/console/search?q={w}" for w in random.choices(["refund","teapot","stein","delivery","invoice","broken"], k=200)])):
    for path in paths[:10]: timed(path)
    res = [timed(path) for path in paths]
    ms = [m for m, s in res]; bad = [s for m, s in res if s != 200]
    print(f"{name:12s} n={len(ms)} p50 {p(ms,.5):6.1f} ms  p95 {p(ms,.95):6.1f} ms  non-200: {len(bad)}")
