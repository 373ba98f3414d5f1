"""Helpers for tests that run `helpdesk` commands as real processes."""
from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import httpx


def wait_until_serving(process: subprocess.Popen, base_url: str, output: Callable[[], str], timeout: float = 90):
    """Wait until the server answers /healthz; fail with its output if it dies or takes too long."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(f"{base_url}/healthz", timeout=2)
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"the server did not come up:\n{output()}") from None
            time.sleep(0.3)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Signal the process and wait for it to end; kill it if it does not end in time."""
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
