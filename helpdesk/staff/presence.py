"""Who is there to answer a chat: an agent is online while their console is open (a chat channel's
status, which adds its business hours, is helpdesk/chat/presence.py).

The console's live queue stream (helpdesk/web/console/live.py) refreshes the agent's key every
`REFRESH_SECONDS` in the app's "presence" store (memory, or Redis when several web processes run);
the key expires `TTL_SECONDS` after the last refresh, so a closed laptop goes offline by itself.
"""
from __future__ import annotations

from litestar.stores.base import Store

REFRESH_SECONDS = 15
TTL_SECONDS = 45  # three refreshes missed: gone


def _key(agent_id: int) -> str:
    return f"agent:{agent_id}"


async def _mark(store: Store, key: str, here: bool) -> None:
    """Someone (an agent, a chat visitor) is here until TTL_SECONDS without a refresh, or gone now."""
    if here:
        await store.set(key, b"1", expires_in=TTL_SECONDS)
    else:
        await store.delete(key)


async def mark_online(store: Store, agent_id: int) -> None:
    await _mark(store, _key(agent_id), True)


async def mark_offline(store: Store, agent_id: int) -> None:
    await _mark(store, _key(agent_id), False)


async def is_online(store: Store, agent_id: int) -> bool:
    return await store.exists(_key(agent_id))


# -- chat visitors: connected now? (the agents' view of a chat ticket) -----------------------------
# The widget's socket marks its visitor here while it is open, refreshed with the channel presence
# (channels/chat/socket.py), so a console in any web process can say "online" when the ticket opens.

def _visitor_key(public_id: str) -> str:
    return f"visitor:{public_id}"


async def mark_visitor(store: Store, public_id: str, connected: bool) -> None:
    await _mark(store, _visitor_key(public_id), connected)


async def visitor_connected(store: Store, public_id: str) -> bool:
    return await store.exists(_visitor_key(public_id))
