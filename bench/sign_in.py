"""Sign-in timing from a client over HTTP: does a wrong password cost the same whether the account
exists or not (so the answer's timing does not tell an attacker which emails are agents), and does
password hashing leave the server responsive (`/healthz` while eight sign-ins run at once)?

Starts its own `helpdesk serve` on a fresh SQLite file (one per round: the throttle allows 20 failed
sign-ins per client address per 15 minutes, so each round stays under it), with ten agents.

    .venv/bin/python -m bench.sign_in [--rounds 4]
"""
from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from bench.console_http import Browser, percentile

PASSWORD = "bench-password-1"
AGENTS = 10


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def helpdesk(*args: str, env: dict[str, str]) -> list[str]:
    return [sys.executable, "-m", "helpdesk", *args]


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")},
                    "HELPDESK_DATA_DIR": str(data_dir), "HELPDESK_SECRET_KEY": "bench"}
        for n in range(AGENTS):
            subprocess.run(helpdesk("agents", "create", "--email", f"agent{n}@bench.test", "--name", f"Agent {n}",
                                    "--password", PASSWORD, env=self.env), env=self.env, check=True,
                           capture_output=True)
        self.process = subprocess.Popen(helpdesk("serve", "--port", str(self.port), env=self.env),
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the server did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def attempt(url: str, email: str, password: str) -> tuple[float, int]:
    """One sign-in as a browser makes it: the form (its CSRF token), then the post; the post is timed."""
    browser = Browser(url)
    conn = browser.connect()
    _, page = browser.request(conn, "GET", "/console/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page).group(1)
    conn.close()
    conn = browser.connect()
    start = time.perf_counter()
    status, _ = browser.request(conn, "POST", "/console/login",
                                urlencode({"email": email, "password": password, "_csrf_token": token}))
    elapsed = (time.perf_counter() - start) * 1000
    conn.close()
    return elapsed, status


def healthz_during_sign_ins(url: str) -> list[float]:
    """/healthz answered while eight correct sign-ins hash their passwords at the same moment."""
    browser = Browser(url)
    threads = [threading.Thread(target=attempt, args=(url, f"agent{n}@bench.test", PASSWORD)) for n in range(8)]
    for thread in threads:
        thread.start()
    times = []
    while any(thread.is_alive() for thread in threads):
        times.append(browser.page("/healthz")[0])
    for thread in threads:
        thread.join()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    known, unknown, right, healthz, statuses = [], [], [], [], set()
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            server = Server(Path(tmp))
            url = f"http://127.0.0.1:{server.port}"
            try:
                for n in range(AGENTS - 1):  # 9 + 9 failures: under the 20 per address
                    ms, status = attempt(url, f"agent{n}@bench.test", "wrong-password")
                    known.append(ms), statuses.add(("known, wrong password", status))
                    ms, status = attempt(url, f"nobody{n}@bench.test", "wrong-password")
                    unknown.append(ms), statuses.add(("unknown email", status))
                    ms, status = attempt(url, f"agent{n}@bench.test", PASSWORD)
                    right.append(ms), statuses.add(("right password", status))
                healthz.extend(healthz_during_sign_ins(url))
            finally:
                server.stop()
    for name, times in (("known email, wrong password", known), ("unknown email", unknown),
                        ("right password", right), ("/healthz during 8 sign-ins", healthz)):
        print(f"{name:30s} n={len(times):3d} p50 {percentile(times, .5):6.1f} ms  p95 {percentile(times, .95):6.1f} ms"
              f"  mean {statistics.fmean(times):6.1f} ms")
    print("answers:", sorted(statuses))


if __name__ == "__main__":
    main()
