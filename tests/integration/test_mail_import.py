"""`helpdesk import mail`: .eml, mbox and Maildir in date order through the receive path."""
from __future__ import annotations

import asyncio
import json
import mailbox as stdlib_mailbox
from datetime import datetime, timezone

from click.testing import CliRunner
from sqlalchemy import func, select

from helpdesk.cli import cli
from helpdesk.db import make_engine, make_session_factory
from helpdesk.models import Message, QuarantinedMessage, Ticket
from tests.support.mail import customer_mail, poison_ingest


def at(hour: int) -> datetime:
    return datetime(2026, 3, 1, hour, tzinfo=timezone.utc)


def invoke(settings, monkeypatch, *args):
    monkeypatch.setenv("HELPDESK_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HELPDESK_DATA_DIR", str(settings.data_dir))
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def counts(settings) -> tuple[int, int, int]:
    async def query():
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            result = tuple([await session.scalar(select(func.count()).select_from(m))
                            for m in (Ticket, Message, QuarantinedMessage)])
        await engine.dispose()
        return result

    return asyncio.run(query())


def test_import_of_eml_mbox_and_maildir_counts_every_message_once(settings, tmp_path, monkeypatch):
    # the reply is in the eml folder but dated after its original in the mbox: date order threads it
    original = customer_mail(message_id="<orig@example.com>", subject="Cracked screen", date=at(9))
    (tmp_path / "eml").mkdir()
    (tmp_path / "eml" / "reply.eml").write_bytes(
        customer_mail(subject="Re: Cracked screen", in_reply_to="<orig@example.com>", date=at(11)))
    (tmp_path / "eml" / "poison.eml").write_bytes(customer_mail(subject="poison", date=at(12)))
    box = stdlib_mailbox.mbox(tmp_path / "archive.mbox")
    box.add(original)
    box.add(customer_mail(sender="bob@example.com", subject="Größe ändern? 尺寸", date=at(8)))
    box.flush()
    maildir = stdlib_mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(original)  # the same message exported twice: a duplicate
    maildir.add(customer_mail(sender="cy@example.com", subject="Invoice", date=at(10),
                              attachment=("invoice.pdf", "application/pdf", b"%PDF-1.4")))
    maildir.flush()

    poison_ingest(monkeypatch)
    result = invoke(settings, monkeypatch, "import", "mail", str(tmp_path / "eml"), str(tmp_path / "archive.mbox"),
                    str(tmp_path / "Maildir"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary == {"ingested": 4, "duplicates": 1, "quarantined": 1, "tickets_created": 3}
    assert counts(settings) == (3, 4, 1)

    again = invoke(settings, monkeypatch, "import", "mail", str(tmp_path / "Maildir"), "--json")
    assert json.loads(again.stdout.strip().splitlines()[-1]) == {
        "ingested": 0, "duplicates": 2, "quarantined": 0, "tickets_created": 0}
