"""A sender that records what it was asked to send and fails on demand: for tests and demos."""
from __future__ import annotations

from helpdesk.channel import DeliveryError, Outbound


class StubSender:
    def __init__(self, channel: str, *, fail_times: int = 0, retryable: bool = True) -> None:
        self.channel = channel
        self.fail_times = fail_times
        self.retryable = retryable
        self.sent: list[Outbound] = []
        self.calls = 0

    async def send(self, outbound: Outbound) -> str | None:
        self.calls += 1
        if self.fail_times > 0:
            self.fail_times -= 1
            raise DeliveryError("stub failure on demand", retryable=self.retryable)
        self.sent.append(outbound)
        return None
