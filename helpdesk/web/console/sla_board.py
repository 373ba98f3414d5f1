"""The SLA board for team leads (/console/sla): what is breached and breaches next (live countdowns by
static/sla-clocks.js), each agent's load, attainment per team and channel, response-time percentiles,
two charts drawn here as SVG, filters in the URL, a CSV of the report, and a live stream that
re-fetches it. The numbers are `helpdesk.tickets.sla_board`'s."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from litestar import Controller, Response, get
from litestar.channels import ChannelsPlugin
from litestar.response import ServerSentEvent, Template
from litestar_htmx import HTMXRequest
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.models import PRIORITIES, Agent
from helpdesk.models.tickets import CHANNELS
from helpdesk.staff import directory as staff
from helpdesk.tickets import sla_board
from helpdesk.tickets.sla_board import TARGET_TITLES, WINDOWS, Board, BoardFilters
from helpdesk.web.auth import lead_only
from helpdesk.web.console.live import sla_board_stream
from helpdesk.web.console.pages import render

COLOURS = {"first_response": "#0b5cad", "next_response": "#8250df", "resolution": "#1a7f37"}


@dataclass
class Chart:
    """An SVG chart's geometry, in its own units (viewBox)."""

    width: int
    height: int
    left: int
    top: int
    bottom: int  # y of the x axis

    def y(self, percent: float) -> float:
        return round(self.bottom - (self.bottom - self.top) * percent / 100, 1)


def attainment_chart(board: Board) -> dict:
    """Lines of daily attainment per target over the last 30 days; a day without outcomes breaks the line."""
    chart = Chart(width=640, height=220, left=40, top=12, bottom=190)
    step = (chart.width - chart.left - 12) / max(1, len(board.daily) - 1)
    lines = []
    for target, title in TARGET_TITLES.items():
        segments, segment, points = [], [], []
        for index, (day, rates) in enumerate(board.daily):
            rate = rates[target]
            if rate.percent is None:
                if segment:
                    segments.append(segment)
                segment = []
                continue
            x, y = round(chart.left + index * step, 1), chart.y(rate.percent)
            segment.append(f"{x},{y}")
            points.append({"x": x, "y": y, "title": f"{day:%-d %b}: {title.lower()} {rate.percent:.0f} % "
                                                     f"({rate.met} of {rate.total} on time)"})
        if segment:
            segments.append(segment)
        lines.append({"target": target, "title": title, "colour": COLOURS[target],
                      "segments": [" ".join(s) for s in segments], "points": points})
    ticks = [{"y": chart.y(p), "label": f"{p} %"} for p in (0, 50, 100)]
    days = [{"x": round(chart.left + i * step, 1), "label": f"{day:%-d %b}"}
            for i, (day, _) in enumerate(board.daily) if i % 7 == 1 or i == len(board.daily) - 1]
    empty = not any(line["points"] for line in lines)
    return {"chart": chart, "lines": lines, "ticks": ticks, "days": days, "empty": empty}


def distribution_chart(board: Board) -> dict:
    """Bars: how many first responses (30 days) took how long, in business time."""
    chart = Chart(width=640, height=220, left=12, top=20, bottom=180)
    most = max((n for _, n in board.distribution), default=0)
    slot = (chart.width - chart.left * 2) / len(board.distribution)
    bars = []
    for index, (label, n) in enumerate(board.distribution):
        height = 0 if not most else round((chart.bottom - chart.top) * n / most, 1)
        bars.append({"x": round(chart.left + index * slot + slot * 0.15, 1), "width": round(slot * 0.7, 1),
                     "y": round(chart.bottom - height, 1), "height": height, "label": label, "n": n,
                     "middle": round(chart.left + index * slot + slot / 2, 1)})
    return {"chart": chart, "bars": bars, "total": sum(n for _, n in board.distribution)}


def report_csv(board: Board) -> str:
    """The board's report as CSV: attainment (overall, per team, per channel), percentiles, agents."""
    out = io.StringIO()
    write = csv.writer(out).writerow
    write(["section", "group", "target", "window", "on_time", "missed", "attainment_percent"])
    groups = [("overall", "all", board.overall), *(("team", name, rates) for name, rates in board.by_team),
              *(("channel", name, rates) for name, rates in board.by_channel)]
    for section, group, rates in groups:
        for target in TARGET_TITLES:
            for window in WINDOWS:
                rate = rates[target][window]
                write([section, group, target, window, rate.met, rate.missed,
                       "" if rate.percent is None else f"{rate.percent:.1f}"])
    write([])
    write(["section", "target", "window", "median_business_minutes", "p90_business_minutes", "count"])
    for target, windows in board.percentiles.items():
        for window, (median, p90, n) in windows.items():
            write(["response_time", target, window, "" if median is None else median, "" if p90 is None else p90, n])
    write([])
    write(["section", "agent", "open", "at_risk", "breached"])
    for load in board.agents:
        write(["agent", load.name, load.open, load.at_risk, load.breached])
    write([])
    write(["section", "breached_now", "breaching_within_hour", "generated_at"])
    write(["summary", board.breached_count, board.soon_count, board.now.isoformat()])
    return out.getvalue()


class SlaBoardController(Controller):
    path = "/sla"
    guards = [lead_only]

    @get("/", name="sla_board")
    async def board(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Template:
        filters = BoardFilters.from_query(request.query_params)
        board = await sla_board.board(db, filters)
        context = {"agent": agent, "board": board, "filters": filters, "board_query": filters.as_query(),
                   "teams": await staff.teams(db), "channels": CHANNELS, "priorities": PRIORITIES,
                   "windows": WINDOWS, "targets": TARGET_TITLES, "attainment": attainment_chart(board),
                   "distribution": distribution_chart(board)}
        return render(request, "console/sla.html", context, fragments={"sla-board": "console/_sla_board.html"})

    @get("/report.csv", name="sla_board_csv")
    async def report(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> Response:
        board = await sla_board.board(db, BoardFilters.from_query(request.query_params))
        return Response(report_csv(board), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="sla-report-{board.now:%Y-%m-%d}.csv"'})

    @get("/live", name="sla_board_live")
    async def live(self, request: HTMXRequest, db: AsyncSession, agent: Agent) -> ServerSentEvent:
        await db.close()  # a stream lives for hours: give the pooled connection back now
        channels: ChannelsPlugin = request.app.state["channels"]
        return ServerSentEvent(sla_board_stream(channels),
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
