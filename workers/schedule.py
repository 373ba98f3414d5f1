"""The periodic jobs and their intervals, run by APScheduler; each job only enqueues an actor."""
from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

# (actor name, every N seconds)
JOBS: list[tuple[str, int]] = [
    ("sweep_outbox", 30),
    ("poll_mailboxes", 60),  # the safety net under IMAP IDLE, and the only reader where IDLE is off
    ("wake_snoozed", 30),  # snoozed tickets whose time has come return to the queues
    ("sweep_sla", 30),
    ("sweep_webhooks", 30),  # webhook deliveries whose broker message was lost (helpdesk/integrations/)  # SLA breaches stamped, warnings and escalations (helpdesk/sla/sweep.py)
]


def _enqueue(actor_name: str) -> None:
    import workers.actors as actors

    getattr(actors, actor_name).send()


def build_scheduler(*, blocking: bool = False) -> BackgroundScheduler | BlockingScheduler:
    # APScheduler logs two INFO lines per job run: with five jobs every 30 s they buried the demo's
    # own output (its URL, login, shop address); its warnings and errors still show
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    scheduler = BlockingScheduler() if blocking else BackgroundScheduler()
    for actor_name, seconds in JOBS:
        # coalesce + one instance: a slow run is never stacked behind itself
        scheduler.add_job(_enqueue, "interval", seconds=seconds, args=[actor_name], id=actor_name,
                          coalesce=True, max_instances=1, misfire_grace_time=seconds)
    return scheduler
