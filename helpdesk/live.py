"""Names and publishing of live events: `ticket:{id}`, `queue:{name}`, `agent:{id}`, `chat:{conversation}`.

The core does not know the transport. Each process has one, so an event never goes out twice:
the web app's (its channels plugin, which reaches the other processes through Redis or the local
relay, `helpdesk.live_relay`), or for a process without the app (CLI commands, worker, scheduler)
`transport_for(settings)`, which the CLI installs for every command.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from helpdesk.settings import Settings

log = logging.getLogger(__name__)

Publisher = Callable[[str, dict[str, Any]], None]


def ticket_channel(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


def queue_channel(name: str) -> str:
    return f"queue:{name}"


def agent_channel(agent_id: int) -> str:
    return f"agent:{agent_id}"


def chat_channel(conversation: str) -> str:
    return f"chat:{conversation}"


def sla_channel() -> str:
    """SLA clocks stamped, warned or breached (the sweep): the SLA board re-fetches on it."""
    return "sla"


_transport: Publisher | None = None  # this process's way to every console of the installation
_publishers: list[Publisher] = []  # more listeners in this process (tests)


def set_transport(publisher: Publisher | None) -> Publisher | None:
    """Make `publisher` this process's transport; returns the one it replaces (to put back later)."""
    global _transport
    previous, _transport = _transport, publisher
    return previous


def transport_for(settings: Settings) -> Publisher:
    """How a process without the web app reaches every console: Redis when configured, else the
    local relay to the web processes on this machine."""
    if settings.redis_url:
        return redis_publisher(settings.redis_url)
    from helpdesk.live_relay import RelayPublisher

    return RelayPublisher(settings.live_dir)


def add_publisher(publisher: Publisher) -> None:
    _publishers.append(publisher)


def remove_publisher(publisher: Publisher) -> None:
    if publisher in _publishers:
        _publishers.remove(publisher)


def publish(channel: str, event: dict[str, Any]) -> None:
    """Best effort: a live update that fails must never fail the write that caused it."""
    publish_many([(channel, event)])


def publish_many(events: list[tuple[str, dict[str, Any]]]) -> None:
    """A unit of work's events, after its COMMIT. A publisher with a `publish_many` of its own gets
    them at once (the local relay sends a batch as one datagram, not one per event)."""
    for publisher in [_transport, *_publishers]:
        if publisher is None:
            continue
        batch = getattr(publisher, "publish_many", None)
        calls = [(batch, (events,))] if batch else [(publisher, event) for event in events]
        for call, args in calls:
            try:
                call(*args)
            except Exception:  # noqa: BLE001 - logged, the data is committed already
                log.exception("live publish to %s failed", ", ".join(sorted({channel for channel, _ in events})))


def redis_publisher(redis_url: str) -> Publisher:
    """For processes without the web app (workers): publish where the web processes listen."""
    clients = []

    def _publish(channel: str, event: dict[str, Any]) -> None:
        if not clients:  # on first use: a command that publishes nothing does not load redis
            import redis

            clients.append(redis.Redis.from_url(redis_url))
        clients[0].publish(channel, json.dumps(event, default=str))

    return _publish
