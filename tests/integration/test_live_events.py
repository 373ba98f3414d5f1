"""Live events are published after commit, and a broken publisher never loses the message."""
from __future__ import annotations

from sqlalchemy import func, select

from helpdesk import live
from helpdesk.inbound.ingest import ingest
from helpdesk.models import Message
from tests.factories import inbound


async def test_ingest_publishes_ticket_and_queue_events(session, sessions, settings):
    seen = []

    async def committed(message_id):
        async with sessions() as other:  # another connection sees the row only once it is committed
            return await other.scalar(select(func.count()).select_from(Message).where(Message.id == message_id))

    def publisher(channel, event):
        seen.append((channel, event))

    live.add_publisher(publisher)
    try:
        result = await ingest(session, inbound(), settings=settings)
    finally:
        live.remove_publisher(publisher)
    assert (f"ticket:{result.ticket_id}", {"event": "message.created", "ticket_id": result.ticket_id,
                                           "message_id": result.message_id}) in seen
    assert ("queue:all", {"event": "ticket.created", "ticket_id": result.ticket_id}) in seen
    assert await committed(result.message_id) == 1


async def test_failing_publisher_does_not_fail_ingest(session, settings):
    def broken(channel, event):
        raise ConnectionError("redis is down")

    live.add_publisher(broken)
    try:
        result = await ingest(session, inbound(), settings=settings)
    finally:
        live.remove_publisher(broken)
    assert result.created_ticket and result.message_id is not None
