"""`helpdesk sla policies list|add|edit|move` and `helpdesk sla calendars list|add|edit`, run as a user
runs them: in a subprocess, on SQLite; bad input is one line on stderr, exit status 1, no traceback."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_cli import helpdesk


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'sla.sqlite3'}",
               PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env


def ok(args, env, tmp_path):
    done = helpdesk(["sla", *args], env, tmp_path)
    assert done.returncode == 0, done.stderr
    return done


def test_calendars_and_policies_are_added_edited_moved_and_listed(env, tmp_path):
    ok(["calendars", "add", "--name", "Office", "--timezone", "Europe/Berlin", "--hours", "mon-fri=09:00-12:00,13:00-17:00",
        "--hours", "sun=22:00-06:00", "--holiday-country", "de", "--holiday-region", "BY", "--holiday", "2026-12-24"],
       env, tmp_path)
    ok(["calendars", "edit", "Office", "--holiday", "2026-12-31"], env, tmp_path)
    [calendar] = json.loads(ok(["calendars", "list", "--json"], env, tmp_path).stdout)
    assert calendar["weekly_hours"] == {**{d: [["09:00", "12:00"], ["13:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")},
                                        "sun": [["22:00", "06:00"]]}
    assert (calendar["holiday_country"], calendar["holiday_region"], calendar["holidays"]) == ("DE", "BY", ["2026-12-31"])

    ok(["policies", "add", "--name", "Urgent", "--priority", "urgent", "--first-response", "1h 30m",
        "--target", "urgent:resolution=8h", "--calendar", "Office", "--warn-at", "80%", "--tag", "vip"], env, tmp_path)
    ok(["policies", "add", "--name", "Everything else", "--first-response", "240", "--resolution", "48h"], env, tmp_path)
    moved = ok(["policies", "move", "Everything else", "--up"], env, tmp_path)
    assert "now number 1" in moved.stderr
    ok(["policies", "edit", "Urgent", "--inactive", "--channel", "email"], env, tmp_path)
    rows = json.loads(ok(["policies", "list", "--json"], env, tmp_path).stdout)
    assert [(r["name"], r["position"], r["active"]) for r in rows] == [("Everything else", 1, True), ("Urgent", 2, False)]
    urgent = rows[1]
    assert (urgent["priority"], urgent["channel"], urgent["tags"], urgent["first_response"], urgent["warn_at_percent"]) == (
        "urgent", "email", ["vip"], 90, 80)
    assert urgent["targets"] == {"urgent": {"resolution": 480}} and urgent["calendar_id"] == calendar["id"]
    ok(["policies", "move", "Urgent", "--to", "1"], env, tmp_path)
    rows = json.loads(ok(["policies", "list", "--json"], env, tmp_path).stdout)
    assert [r["name"] for r in rows] == ["Urgent", "Everything else"]
    assert "Urgent" in ok(["policies", "list"], env, tmp_path).stdout


@pytest.mark.parametrize("args, message", [
    (["policies", "add", "--name", "X", "--first-response", "1x"], "'1x' is not a duration"),
    (["policies", "add", "--name", "X", "--priority", "asap"], "a priority is one of low, normal, high, urgent"),
    (["policies", "add", "--name", "X", "--target", "urgent=30"], "write PRIORITY:TARGET=DURATION"),
    (["policies", "add", "--name", "X", "--calendar", "Mars"], "no business calendar named 'Mars'"),
    (["policies", "add", "--name", "X", "--organization", "Nobody"], "no organization named 'Nobody'"),
    (["policies", "edit", "Nope", "--name", "Y"], "no SLA policy named 'Nope'"),
    (["policies", "move", "Nope"], "say where to: --up, --down or --to N"),
    (["calendars", "add", "--name", "X", "--timezone", "Mars/Olympus"], "'Mars/Olympus' is not a time zone"),
    (["calendars", "add", "--name", "X", "--hours", "mon=9-17"], "'9-17' is not a span of hours"),
    (["calendars", "add", "--name", "X", "--holiday-country", "DE", "--holiday-region", "ZZ"], "DE has no region 'ZZ'"),
    (["calendars", "edit", "Nope", "--name", "Y"], "no business calendar named 'Nope'"),
])
def test_bad_input_is_one_clear_line_and_no_traceback(env, tmp_path, args, message):
    failed = helpdesk(["sla", *args], env, tmp_path)
    assert failed.returncode == 1, failed.stderr
    assert message in failed.stderr and "Traceback" not in failed.stderr
    assert failed.stderr.count("\n") <= 2
