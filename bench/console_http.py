"""Console pages timed from a client over HTTP, against a running `helpdesk serve` on the
1M-ticket database:

    HELPDESK_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/helpdesk_bench helpdesk serve --port 8795 &
    python -m bench.console_http [URL]

Each page is fetched on a new TCP connection, as a browser's first request (or a sync worker
behind a proxy) sees it, with the standard library's `http.client`. Not httpx: an `httpx.Client`
builds a TLS context (the CA bundle) when it is made, even for plain http, which cost 58 ms per
client on this machine and was most of the "gap" earlier figures showed between the server's time
and the client's.

"with what it fetches after load" adds the requests the page's htmx makes as soon as it is
shown (`hx-trigger="load"`: the ticket page's queue pane, the queue nav's counts when the page
left them out), each on the page's kept-alive connection, one after another: a browser makes them
in parallel, so this is the slower bound.

The queue page is timed in each order an agent can choose (`?sort=`), on its first page and on
pages 2-21 reached through the pager's keyset links ("All open" and "Unassigned"). Those variants
take turns request by request, so a busy machine slows them alike and they stay comparable.
"""
from __future__ import annotations

import http.client
import os
import random
import re
import sys
import time
from urllib.parse import urlsplit

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8795"
LOGIN = {"email": "agent01@bench.test", "password": "bench-password"}
SAMPLES = 200
WORDS = ["refund", "teapot", "stein", "delivery", "invoice", "broken"]
LOAD_FETCH = re.compile(r'hx-get="([^"]+)"[^>]*hx-trigger="load')
NEXT_PAGE = re.compile(r'id="queue-next"[^>]*href="([^"]+)"')
SORTS = ("activity", "oldest", "created", "priority", "due")  # helpdesk.tickets.queues.SORTS


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Browser:
    """A cookie jar and new connections: just enough of a browser to time pages honestly."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.cookies: dict[str, str] = {}
        self.location: str | None = None

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=30)

    def request(self, conn: http.client.HTTPConnection, method: str, path: str, body: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = f"http://{self.host}:{self.port}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        self.location = response.getheader("Location")
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        return response.status, text

    def sign_in(self) -> None:
        from urllib.parse import urlencode

        conn = self.connect()
        _, page = self.request(conn, "GET", "/console/login")
        token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
        status, _ = self.request(conn, "POST", "/console/login",
                                 urlencode({**LOGIN, "_csrf_token": token, "next": "/console"}))
        conn.close()
        if status not in (200, 302, 303):
            raise SystemExit(f"sign-in failed with {status}")

    def page(self, path: str, *, after_load: bool = False) -> tuple[float, int]:
        start = time.perf_counter()
        conn = self.connect()
        status, text = self.request(conn, "GET", path)
        if status in (302, 303) and self.location:  # search by number opens the ticket
            status, text = self.request(conn, "GET", self.location)
        if after_load:
            for fetch in LOAD_FETCH.findall(text):
                self.request(conn, "GET", fetch.replace("&amp;", "&"), headers={"HX-Request": "true"})
        conn.close()
        return (time.perf_counter() - start) * 1000, status


def later_pages(browser: Browser, first: str, pages: int) -> list[str]:
    """The addresses of the pages after `first`, as its "More tickets" links lead (walked untimed)."""
    paths, path = [], first
    conn = browser.connect()
    for _ in range(pages):
        _, text = browser.request(conn, "GET", path)
        found = NEXT_PAGE.search(text)
        if not found:
            break
        path = found.group(1).replace("&amp;", "&")
        paths.append(path)
    conn.close()
    return paths


def report(browser: Browser, name: str, paths: list[str], *, after_load: bool = False) -> None:
    report_turns(browser, {name: paths}, after_load=after_load)


def report_turns(browser: Browser, variants: dict[str, list[str]], *, after_load: bool = False) -> None:
    """Time each variant's pages, the variants taking turns request by request."""
    for paths in variants.values():
        for path in paths[:10]:  # warm-up: the first pages fill caches a long-running server has full
            browser.page(path, after_load=after_load)
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in variants}
    for i in range(max(len(paths) for paths in variants.values())):
        for name, paths in variants.items():
            if i < len(paths):
                results[name].append(browser.page(paths[i], after_load=after_load))
    for name, timed in results.items():
        times = [ms for ms, _ in timed]
        failed = sum(1 for _, status in timed if status != 200)
        print(f"{name:40s} n={len(times)} p50 {percentile(times, .5):6.1f} ms  p95 {percentile(times, .95):6.1f} ms"
              f"  non-200: {failed}")


def after_change(browser: Browser, name: str, path: str, samples: int = 50) -> None:
    """The counts are reused while no ticket changed (helpdesk.tickets.queues.queue_counts): time
    the page as the first console to re-fetch after a change sees it, a ticket touched (untimed,
    through psql on BENCH_DATABASE_URL) before each request."""
    import subprocess

    database = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/helpdesk_bench")
    times = []
    for _ in range(samples):
        subprocess.run(["psql", "-q", database, "-c",
                        f"UPDATE tickets SET updated_at = now() WHERE id = {random.randint(1, 1_000_000)}"],
                       check=True, capture_output=True)
        times.append(browser.page(path, after_load=True)[0])
    print(f"{name:40s} n={len(times)} p50 {percentile(times, .5):6.1f} ms  p95 {percentile(times, .95):6.1f} ms")


def main() -> None:
    browser = Browser(URL)
    browser.sign_in()
    tickets = [f"/console/tickets/{random.randint(1, 1_000_000)}" for _ in range(SAMPLES)]
    report(browser, "ticket page", tickets)
    report(browser, "ticket page with what it fetches after load", tickets, after_load=True)
    queue_pages = {"queue page with its counts": ["/console/queues/open"] * SAMPLES}
    for sort in SORTS:
        queue_pages[f"  sort={sort}"] = [f"/console/queues/open?sort={sort}"] * SAMPLES
    for sort in SORTS:
        deep = [path for queue in ("open", "unassigned")
                for path in later_pages(browser, f"/console/queues/{queue}?sort={sort}", 20)]
        queue_pages[f"  sort={sort}, pages 2-21"] = random.sample(deep, len(deep)) * (SAMPLES // len(deep))
    report_turns(browser, queue_pages, after_load=True)
    after_change(browser, "queue page with its counts, after a change", "/console/queues/open")
    report(browser, "search page", [f"/console/search?q={w}" for w in random.choices(WORDS, k=SAMPLES)])
    report(browser, "search by number", [f"/console/search?q=%23{random.randint(1, 1_000_000)}"
                                         for _ in range(SAMPLES)])
    report(browser, "healthz (the floor: connection and app)", ["/healthz"] * SAMPLES)


if __name__ == "__main__":
    main()
