"""Drafts in the reply box: saved per ticket and agent, restored on the ticket page and the htmx
workspace, private to their agent, bounded, and ended by sending (on SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import re

from litestar.testing import AsyncTestClient
from sqlalchemy import select

from helpdesk.app import create_app
from helpdesk.models import Draft
from helpdesk.tickets import drafts
from tests.integration.test_console_tickets import NO_FILE, queued  # noqa: F401
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401


async def draft_rows(session, ticket_id):
    query = select(Draft).where(Draft.ticket_id == ticket_id).execution_options(populate_existing=True)
    return list(await session.scalars(query))


def reply_box_text(html: str) -> str:
    return re.search(r'<textarea id="reply-body"[^>]*>(.*?)</textarea>', html, re.S).group(1)


async def save(client, token, ticket_id, body, mode="reply"):
    return await client.post(f"/console/tickets/{ticket_id}/draft", headers=htmx(None, token),
                             data={"body": body, "mode": mode})


async def test_a_saved_draft_comes_back_on_the_ticket_page_and_in_the_workspace_swap(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    saved = await save(client, token, ticket_id, "Dear Ann, <b>half</b> a note", mode="note")
    assert saved.status_code == 200 and "Draft saved" in saved.text and 'id="discard-draft"' in saved.text
    [row] = await draft_rows(session, ticket_id)
    assert (row.agent_id, row.mode, row.body) == (shop.agents["agent"], "note", "Dear Ann, <b>half</b> a note")

    page = await client.get(f"/console/tickets/{ticket_id}")
    assert reply_box_text(page.text) == "Dear Ann, &lt;b&gt;half&lt;/b&gt; a note"  # restored, escaped
    assert 'value="note" id="mode-note" checked' in page.text and 'class="mode-note"' in page.text
    assert "Draft saved" in page.text and "data-draft-unsaved" not in page.text
    # coming back from another ticket: htmx swaps the workspace, the draft is in it
    other = await client.get(f"/console/tickets/{shop.ticket_ids[1]}", headers=htmx("workspace"))
    assert reply_box_text(other.text) == "" and "Draft saved" not in other.text
    back = await client.get(f"/console/tickets/{ticket_id}", headers=htmx("workspace"))
    assert "<html" not in back.text and reply_box_text(back.text) == "Dear Ann, &lt;b&gt;half&lt;/b&gt; a note"

    # the last save wins, an empty body leaves no draft behind
    await save(client, token, ticket_id, "Second thoughts")
    [row] = await draft_rows(session, ticket_id)
    assert (row.mode, row.body) == ("reply", "Second thoughts")
    emptied = await save(client, token, ticket_id, "  \n ")
    assert emptied.status_code == 200 and "Draft saved" not in emptied.text
    assert await draft_rows(session, ticket_id) == []


async def test_a_draft_is_its_agents_alone(client, shop, session, settings):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await save(client, token, ticket_id, "Bea private thoughts")
    async with AsyncTestClient(app=create_app(settings)) as lead:  # another browser
        lead_token = await sign_in(lead, "lead")
        page = await lead.get(f"/console/tickets/{ticket_id}")
        assert "private thoughts" not in page.text and reply_box_text(page.text) == ""
        await save(lead, lead_token, ticket_id, "Lena own")
        # discarding is about one's own draft too
        discarded = await lead.post(f"/console/tickets/{ticket_id}/draft/discard", headers=htmx("reply-box", lead_token))
        assert discarded.status_code == 200
    rows = {row.agent_id: row.body for row in await draft_rows(session, ticket_id)}
    assert rows == {shop.agents["agent"]: "Bea private thoughts"}
    page = await client.get(f"/console/tickets/{ticket_id}")
    assert reply_box_text(page.text) == "Bea private thoughts"


async def test_discard_answers_an_empty_reply_box(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await save(client, token, ticket_id, "Never mind", mode="note")
    response = await client.post(f"/console/tickets/{ticket_id}/draft/discard", headers=htmx("reply-box", token))
    assert response.status_code == 200 and response.text.startswith('<section id="reply-box"')
    assert reply_box_text(response.text) == "" and 'class="mode-reply"' in response.text
    assert 'name="_csrf_token"' in response.text and "Draft saved" not in response.text
    assert await draft_rows(session, ticket_id) == []


async def test_sending_ends_the_draft_and_a_send_that_fails_keeps_it(client, shop, session, queued):  # noqa: F811
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await save(client, token, ticket_id, "Draft before the send")
    # nothing sent (an empty body): the draft stays, the box hands back what was posted as unsaved
    refused = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                data={"body": " ", "mode": "reply"}, files=NO_FILE)
    assert refused.headers["hx-retarget"] == "#reply-box" and "data-draft-unsaved" in refused.text
    assert [row.body for row in await draft_rows(session, ticket_id)] == ["Draft before the send"]
    refused = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                                data={"body": "hi", "mode": "reply", "send": "bogus"}, files=NO_FILE)
    assert "choose pending or solved" in refused.text and len(await draft_rows(session, ticket_id)) == 1

    sent = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                             data={"body": "The reply itself", "mode": "reply"}, files=NO_FILE)
    assert sent.status_code == 200 and "The reply itself" in sent.text and len(queued) == 1
    assert await draft_rows(session, ticket_id) == []
    assert reply_box_text(sent.text) == ""  # the out-of-band reply box is empty again
    # a note ends the draft the same way
    await save(client, token, ticket_id, "Note draft", mode="note")
    noted = await client.post(f"/console/tickets/{ticket_id}/reply", headers=htmx("conversation", token),
                              data={"body": "Note draft", "mode": "note"}, files=NO_FILE)
    assert noted.status_code == 200 and await draft_rows(session, ticket_id) == []


async def test_a_draft_too_long_or_of_no_known_mode_is_refused_with_a_reason(client, shop, session):
    token = await sign_in(client, "agent")
    ticket_id = shop.ticket_ids[0]
    await save(client, token, ticket_id, "Kept")
    too_long = await save(client, token, ticket_id, "é" * (drafts.MAX_CHARS + 1))
    assert too_long.status_code == 400
    assert "Draft not saved: a draft can be at most 100,000 characters; this one has 100,001" in too_long.text
    odd = await save(client, token, ticket_id, "text", mode="tweet")
    assert odd.status_code == 400 and "a draft is a reply or a note" in odd.text
    assert [row.body for row in await draft_rows(session, ticket_id)] == ["Kept"]
    longest = await save(client, token, ticket_id, "é" * drafts.MAX_CHARS)
    assert longest.status_code == 200


async def test_drafts_need_a_signed_in_agent_a_csrf_token_and_a_real_ticket(client, shop, session, settings):
    token = await sign_in(client, "agent")
    missing = await save(client, token, 987654, "hello")
    assert missing.status_code == 404 and "There is no ticket 987654" in missing.text
    gone = await client.post("/console/tickets/987654/draft/discard", headers=htmx(None, token))
    assert gone.status_code == 404
    no_token = await client.post(f"/console/tickets/{shop.ticket_ids[0]}/draft", data={"body": "x", "mode": "reply"},
                                 headers={"HX-Request": "true"})
    assert no_token.status_code == 403
    async with AsyncTestClient(app=create_app(settings)) as stranger:
        page = await stranger.get("/console/login")
        cookie_token = stranger.cookies.get("helpdesk_csrf")
        anonymous = await stranger.post(f"/console/tickets/{shop.ticket_ids[0]}/draft", headers=htmx(None, cookie_token),
                                        data={"body": "x", "mode": "reply"})
        assert page.status_code == 200 and anonymous.status_code == 401
    assert await draft_rows(session, shop.ticket_ids[0]) == []


async def test_saves_from_two_devices_at_once_never_fail_and_the_last_one_wins(sessions, shop):
    ticket_id, agent_id = shop.ticket_ids[0], shop.agents["agent"]

    async def device(text):
        async with sessions() as session:
            return await drafts.save(session, ticket_id, agent_id, body=text, mode="reply")

    for round_ in range(5):
        results = await asyncio.gather(device(f"phone {round_}"), device(f"laptop {round_}"))
        assert all(r is not None for r in results)
        async with sessions() as session:
            [row] = await draft_rows(session, ticket_id)
            assert row.body in (f"phone {round_}", f"laptop {round_}")
    await device("typed last")
    async with sessions() as session:
        assert [row.body for row in await draft_rows(session, ticket_id)] == ["typed last"]
        assert await drafts.tickets_with_drafts(session, agent_id, shop.ticket_ids) == {ticket_id}
        assert await drafts.tickets_with_drafts(session, shop.agents["lead"], shop.ticket_ids) == set()


async def test_the_queue_marks_the_tickets_i_have_a_draft_on(app, client, shop, settings):
    token = await sign_in(client, "agent")
    await save(client, token, shop.ticket_ids[1], "Half written")
    marks = re.compile(r'data-ticket-id="(\d+)".*?<span class="draft-mark"[^>]*?( hidden)?>draft</span>', re.S)
    queue = await client.get("/console/queues/open", headers=htmx("queue-pane"))
    assert {int(t): not hidden for t, hidden in marks.findall(queue.text)} == {
        shop.ticket_ids[0]: False, shop.ticket_ids[1]: True}
    async with AsyncTestClient(app=create_app(settings)) as lead:
        await sign_in(lead, "lead")
        theirs = await lead.get("/console/queues/open", headers=htmx("queue-pane"))
        assert {int(t): not hidden for t, hidden in marks.findall(theirs.text)} == {
            shop.ticket_ids[0]: False, shop.ticket_ids[1]: False}
