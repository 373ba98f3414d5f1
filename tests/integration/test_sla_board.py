"""The SLA board (/console/sla): its numbers from a known set of tickets and sla_events (both databases),
each agent's breached count equal to the breached list, filters in the URL, the CSV report, the page
and its live re-fetch target."""
from __future__ import annotations

import csv
import io
import re

import pytest

from helpdesk.models import utcnow
from helpdesk.tickets import sla_board
from helpdesk.tickets.sla_board import BoardFilters
from tests.support.console import app, client, htmx, shop, sign_in  # noqa: F401
from tests.support.sla_board import seed_board


@pytest.fixture
async def seeded(session, shop):
    sla_board.forget_closed_days()  # closed days are cached per database URL; each test has fresh data
    return await seed_board(session, customer_id=shop.customer_id, team_id=shop.team_id, agents=shop.agents,
                            now=utcnow())


async def test_summary_lists_and_agents_agree_on_what_is_breached(session, shop, seeded):
    board = await sla_board.board(session, now=seeded.now)
    t = seeded.tickets
    assert (board.breached_count, board.soon_count) == (3, 1)
    assert [row.id for row in board.overdue] == [t["stale_chat"], t["overdue"], t["late_reply"]]  # longest overdue first
    assert [row.target for row in board.overdue] == ["resolution", "first_response", "next_response"]
    assert [row.id for row in board.upcoming] == [t["soon"], t["later"]]
    loads = {load.name: (load.open, load.at_risk, load.breached) for load in board.agents}
    assert loads["Bea Agent"] == (3, 1, 2) and loads["Lena Lead"] == (1, 0, 1)
    assert loads["Unassigned"][1:] == (0, 0)  # "later" is not due within the hour; "paused" is paused
    assert sum(load.breached for load in board.agents) == board.breached_count == len(board.overdue)
    by_assignee = {}
    for row in board.overdue:
        by_assignee[row.assignee_name] = by_assignee.get(row.assignee_name, 0) + 1
    assert by_assignee == {name: counts[2] for name, counts in loads.items() if counts[2]}


async def test_attainment_percentiles_and_charts_from_the_events(session, shop, seeded):
    board = await sla_board.board(session, now=seeded.now)
    fr, nr, res = (board.overall[t] for t in ("first_response", "next_response", "resolution"))
    assert [(fr[w].met, fr[w].missed) for w in ("today", "7d", "30d")] == [(1, 1), (2, 2), (2, 2)]  # the late met is no extra miss
    assert [(nr[w].met, nr[w].missed) for w in ("today", "7d", "30d")] == [(0, 0), (0, 0), (1, 0)]
    assert [(res[w].met, res[w].missed) for w in ("today", "7d", "30d")] == [(1, 0), (1, 0), (1, 0)]
    assert (board.attainment_today.met, board.attainment_today.total) == (2, 3)
    teams = dict(board.by_team)
    assert (teams["Support"]["first_response"]["30d"].met, teams["Support"]["first_response"]["30d"].missed) == (2, 2)
    assert teams["No team"]["resolution"]["today"].percent == 100.0
    channels = dict(board.by_channel)
    assert set(channels) == {"chat", "email"} and channels["email"]["next_response"]["30d"].percent == 100.0
    assert board.percentiles["first_response"] == {"today": (20, 20, 1), "7d": (40, 90, 3), "30d": (40, 90, 3)}
    assert board.percentiles["resolution"]["30d"] == (300, 300, 1)
    assert dict(board.distribution) == {"< 15m": 0, "15–30m": 1, "30–60m": 1, "1–2h": 1, "2–4h": 0, "4–8h": 0,
                                        "8–24h": 0, "> 24h": 0}
    assert len(board.daily) == 30 and board.daily[-1][0] == seeded.now.date()
    assert board.daily[-1][1]["first_response"].percent == 50.0 and board.daily[-1][1]["all"].total == 3


async def test_filters_narrow_every_number(session, shop, seeded):
    support = await sla_board.board(session, BoardFilters(team_id=shop.team_id), now=seeded.now)
    assert support.breached_count == 2 and sum(load.breached for load in support.agents) == 2
    assert [by for by, _ in support.by_team] == ["Support"]
    chat = await sla_board.board(session, BoardFilters(channel="chat"), now=seeded.now)
    assert (chat.breached_count, [row.id for row in chat.overdue]) == (1, [seeded.tickets["stale_chat"]])
    assert chat.overall["first_response"]["30d"].total == 0 and chat.overall["resolution"]["today"].met == 1
    urgent = await sla_board.board(session, BoardFilters(priority="urgent"), now=seeded.now)
    assert urgent.breached_count == 1 and urgent.overall["first_response"]["today"].total == 2
    assert BoardFilters.from_query({"team": "x1", "channel": "fax", "priority": "asap"}) == BoardFilters()


async def test_lead_sees_the_board_its_fragment_and_the_csv(client, shop, seeded):
    await sign_in(client, "lead")
    page = await client.get("/console/sla/")
    assert page.status_code == 200
    assert re.search(r'id="sla-breached-now"><span class="stat-value">3<', page.text)
    assert re.search(r'id="sla-breaching-soon"><span class="stat-value">1<', page.text)
    assert 'sse-connect="/console/sla/live"' in page.text and 'hx-trigger="sse:board, every 30s"' in page.text
    bea = re.search(rf'<tr data-agent-id="{shop.agents["agent"]}">.*?</tr>', page.text, re.S).group(0)
    assert 'data-count="breached">2<' in bea
    assert page.text.count('class="overdue"') == 3
    assert '<svg id="sla-attainment-chart"' in page.text and "<title id=\"sla-distribution-chart-title\">" in page.text

    fragment = await client.get(f"/console/sla/?team={shop.team_id}", headers=htmx("sla-board"))
    assert fragment.status_code == 200 and '<div id="sla-board"' in fragment.text
    assert "<html" not in fragment.text and f'hx-get="/console/sla/?team={shop.team_id}"' in fragment.text
    assert re.search(r'id="sla-breached-now"><span class="stat-value">2<', fragment.text)

    report = await client.get("/console/sla/report.csv?channel=email")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    assert "attachment" in report.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(report.text)))
    assert ["overall", "all", "first_response", "30d", "2", "2", "50.0"] in rows
    assert ["response_time", "first_response", "30d", "40", "90", "3"] in rows
    summary = rows[rows.index(["section", "breached_now", "breaching_within_hour", "generated_at"]) + 1]
    assert summary[:3] == ["summary", "2", "1"]  # email only: the chat ticket is left out
