"""`add_business_time` calls per second (issue 11's target: at least 50,000/s).

    .venv/bin/python bench/sla_clock.py [--seconds 3]

Due times as ingest and the sweep ask for them: a start anywhere in 2025, a target of 30 min to
3 business days, on three calendars (weekdays 9-17 in Berlin with Bavaria's holidays, two shifts a
day with an overnight one in New York, 24/7). Prints calls per second for each and all together.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone

from helpdesk.sla.clock import DAYS, Calendar, add_business_time, business_minutes_between

CALENDARS = {
    "berlin 9-17, DE-BY holidays": Calendar(timezone="Europe/Berlin",
                                            weekly_hours={d: [("09:00", "17:00")] for d in DAYS[:5]},
                                            holiday_country="DE", holiday_region="BY"),
    "new york shifts + overnight": Calendar(timezone="America/New_York",
                                            weekly_hours={d: [("08:00", "12:00"), ("13:00", "17:00"), ("22:00", "06:00")]
                                                          for d in DAYS[:6]}),
    "24/7": Calendar(),
}


def run(calendar: Calendar, seconds: float, rng: random.Random) -> tuple[int, float]:
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    cases = [(base + timedelta(minutes=rng.randrange(365 * 24 * 60)), rng.choice((30, 60, 240, 480, 1440, 3 * 1440)))
             for _ in range(10_000)]
    calls, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        for start, minutes in cases:
            add_business_time(start, minutes, calendar)
        calls += len(cases)
    return calls, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    rng = random.Random(11)
    total_calls = total_time = 0.0
    for name, calendar in CALENDARS.items():
        calls, took = run(calendar, args.seconds, rng)
        total_calls, total_time = total_calls + calls, total_time + took
        print(f"{name:32} {calls / took:>10,.0f} add_business_time/s")
    print(f"{'all':32} {total_calls / total_time:>10,.0f} add_business_time/s")
    # the inverse, for the record (the sweep and the screens read clocks with it)
    calendar = CALENDARS["berlin 9-17, DE-BY holidays"]
    start = datetime(2025, 3, 3, 8, tzinfo=timezone.utc)
    began, n = time.perf_counter(), 20_000
    for i in range(n):
        business_minutes_between(start, start + timedelta(hours=i % 200), calendar)
    print(f"{'business_minutes_between (berlin)':32} {n / (time.perf_counter() - began):>10,.0f} /s")


if __name__ == "__main__":
    main()
