"""Names and publishing of live events: `ticket:{id}`, `queue:{name}`, `agent:{id}`, `chat:{conversation}`.

The core does not know the transport: the web app plugs in Litestar channels (memory backend
embedded, Redis across processes); a worker process without the app plugs in Redis directly.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

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


_publishers: list[Publisher] = []


def add_publisher(publisher: Publisher) -> None:
    _publishers.append(publisher)


def remove_publisher(publisher: Publisher) -> None:
    if publisher in _publishers:
        _publishers.remove(publisher)


def publish(channel: str, event: dict[str, Any]) -> None:
    """Best effort: a live update that fails must never fail the write that caused it."""
    for publisher in list(_publishers):
        try:
            publisher(channel, event)
        except Exception:  # noqa: BLE001 - logged, the data is committed already
            log.exception("live publish to %s failed", channel)


def redis_publisher(redis_url: str) -> Publisher:
    """For processes without the web app (workers): publish where the web processes listen."""
    import redis

    client = redis.Redis.from_url(redis_url)

    def _publish(channel: str, event: dict[str, Any]) -> None:
        client.publish(channel, json.dumps(event, default=str))

    return _publish
