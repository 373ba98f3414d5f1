"""CLI for the email channel: mailboxes, polling and mail import."""
from __future__ import annotations

import json
import signal
import threading
from typing import TYPE_CHECKING
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.models import Mailbox
from helpdesk.settings import Settings

if TYPE_CHECKING:
    from channels.email.receive import Tally

out = Console()
err = Console(stderr=True)


def register(cli: click.Group) -> None:
    cli.add_command(mailboxes)
    cli.add_command(mail)
    # `import` may be shared with other domains (orders, ...): join the group if it exists
    group = cli.commands.get("import")
    if group is None:
        group = click.Group("import", help="Bring data in from other systems.")
        cli.add_command(group)
    group.add_command(import_mail)


# --------------------------------------------------------------------------- mailboxes

@click.group()
def mailboxes() -> None:
    """Support mailboxes: where email comes in (IMAP) and goes out (SMTP)."""


@mailboxes.command("add")
@click.argument("address")
@click.option("--name", help="Shown as the sender name when no agent name applies.")
@click.option("--imap-host", required=True)
@click.option("--imap-port", type=int, help="Default: 993 for tls, 143 otherwise.")
@click.option("--imap-security", type=click.Choice(["tls", "starttls", "none"]), default="tls", show_default=True)
@click.option("--imap-user", help="Default: the address.")
@click.option("--imap-password", envvar="HELPDESK_IMAP_PASSWORD", help="Or HELPDESK_IMAP_PASSWORD.")
@click.option("--oauth2-token", envvar="HELPDESK_IMAP_OAUTH2_TOKEN", help="XOAUTH2 access token instead of a password.")
@click.option("--folder", default="INBOX", show_default=True)
@click.option("--processed-folder", help="Move processed mail here.")
@click.option("--mark-seen/--no-mark-seen", default=False, show_default=True)
@click.option("--idle/--no-idle", "use_idle", default=True, show_default=True)
@click.option("--smtp-host")
@click.option("--smtp-port", type=int, help="Default: 465 for tls, 587 for starttls, 25 for none.")
@click.option("--smtp-security", type=click.Choice(["tls", "starttls", "none"]), default="starttls", show_default=True)
@click.option("--smtp-user")
@click.option("--smtp-password", envvar="HELPDESK_SMTP_PASSWORD", help="Or HELPDESK_SMTP_PASSWORD.")
@click.option("--auto-ack/--no-auto-ack", default=False, show_default=True, help="Acknowledge new tickets by email.")
@click.option("--since", help="On first connection also import mail since this date (YYYY-MM-DD).")
@click.pass_context
def mailboxes_add(ctx: click.Context, address: str, since: str | None, **options) -> None:
    """Add a mailbox (secrets are stored, never printed)."""
    from channels.email.imap import parse_since

    address = address.strip().lower()
    options["imap_port"] = options["imap_port"] or (993 if options["imap_security"] == "tls" else 143)
    options["smtp_port"] = options["smtp_port"] or {"tls": 465, "starttls": 587, "none": 25}[options["smtp_security"]]
    if not options["imap_password"] and not options["oauth2_token"]:
        raise CliError("give --imap-password (or HELPDESK_IMAP_PASSWORD) or --oauth2-token")
    try:
        since_date = parse_since(since)
    except ValueError:
        raise CliError(f"--since must be a date like 2026-01-31, not {since!r}") from None

    async def work(sessions):
        from datetime import datetime, timezone

        async with sessions() as session:
            if await session.scalar(select(Mailbox.id).where(Mailbox.address == address)):
                raise CliError(f"mailbox {address} exists already; change it with `helpdesk mailboxes edit`")
            mailbox = Mailbox(address=address, **options)
            if since_date:
                mailbox.backfill_since = datetime(since_date.year, since_date.month, since_date.day, tzinfo=timezone.utc)
            session.add(mailbox)
            await session.commit()

    run(with_database(settings_of(ctx), work))
    err.print(f"added mailbox {address}")


@mailboxes.command("edit")
@click.argument("mailbox")
@click.option("--name")
@click.option("--imap-host", "--host", "imap_host")
@click.option("--imap-port", "--port", "imap_port", type=int)
@click.option("--imap-security", type=click.Choice(["tls", "starttls", "none"]))
@click.option("--imap-user", "--user", "imap_user")
@click.option("--imap-password", "--password", "imap_password")
@click.option("--oauth2-token")
@click.option("--folder")
@click.option("--processed-folder", help="Move processed mail here ('' to stop moving it).")
@click.option("--mark-seen/--no-mark-seen", default=None)
@click.option("--idle/--no-idle", "use_idle", default=None)
@click.option("--smtp-host")
@click.option("--smtp-port", type=int)
@click.option("--smtp-security", type=click.Choice(["tls", "starttls", "none"]))
@click.option("--smtp-user")
@click.option("--smtp-password")
@click.option("--auto-ack/--no-auto-ack", default=None, help="Acknowledge new tickets by email.")
@click.option("--active/--inactive", default=None, help="An inactive mailbox is not read.")
@click.pass_context
def mailboxes_edit(ctx: click.Context, mailbox: str, **options) -> None:
    """Change a mailbox's settings in place (MAILBOX: its id or address); only the options given change.

    Another IMAP host, user or folder is another mailbox: reading starts over there, from its unread mail.
    """
    from helpdesk.inbound.mailboxes import MailboxError, edit_mailbox

    changes = {name: value for name, value in options.items() if value is not None}
    if not changes:
        raise CliError("nothing to change: give at least one option (see --help)")

    async def work(sessions):
        found = await _mailbox(sessions, mailbox)
        async with sessions() as session:
            try:
                return await edit_mailbox(session, found.id, changes)
            except MailboxError as error:
                raise CliError(str(error)) from None

    edited, restarted = run(with_database(settings_of(ctx), work))
    err.print(f"updated mailbox {edited.address}: {', '.join(sorted(changes))}"
              + ("; reading starts over (another host, user or folder)" if restarted else ""))


@mailboxes.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def mailboxes_list(ctx: click.Context, as_json: bool) -> None:
    """List mailboxes and their state (no secrets)."""
    async def work(sessions):
        async with sessions() as session:
            return list(await session.scalars(select(Mailbox).order_by(Mailbox.address)))

    rows = run(with_database(settings_of(ctx), work))
    described = [_describe(m) for m in rows]
    if as_json:
        click.echo(json.dumps(described, indent=2))
        return
    table = Table("id", "address", "imap", "smtp", "folder", "idle", "auto-ack", "last uid", "last poll", "error")
    for m in described:
        table.add_row(str(m["id"]), m["address"], m["imap"], m["smtp"] or "-", m["folder"], "yes" if m["idle"] else "no",
                      "yes" if m["auto_ack"] else "no", str(m["last_uid"]), m["last_polled_at"] or "never",
                      m["last_error"] or "")
    out.print(table)


def _describe(m: Mailbox) -> dict:
    return {
        "id": m.id, "address": m.address,
        "imap": f"{m.imap_security}://{m.imap_user or m.address}@{m.imap_host}:{m.imap_port}"
                + (" (oauth2)" if m.oauth2_token else ""),
        "smtp": f"{m.smtp_security}://{m.smtp_host}:{m.smtp_port}" if m.smtp_host else None,
        "folder": m.folder, "idle": m.use_idle, "auto_ack": m.auto_ack, "active": m.active,
        "uidvalidity": m.uidvalidity, "last_uid": m.last_uid,
        "last_polled_at": m.last_polled_at.isoformat(timespec="seconds") if m.last_polled_at else None,
        "last_error": m.last_error,
    }


@mailboxes.command("test")
@click.argument("address")
@click.pass_context
def mailboxes_test(ctx: click.Context, address: str) -> None:
    """Log in to IMAP (and SMTP, if set) without reading or sending anything."""
    import aiosmtplib

    from channels.email.imap import connect

    mailbox = run(with_database(settings_of(ctx), lambda s: _mailbox(s, address)))
    try:
        client = connect(mailbox, timeout=15)
        try:
            info = client.select_folder(mailbox.folder, readonly=True)
            idle = client.has_capability("IDLE")
        finally:
            client.logout()
    except Exception as error:  # noqa: BLE001 - report any failure as one line
        raise CliError(f"IMAP {mailbox.imap_host}:{mailbox.imap_port}: {type(error).__name__}: {error}") from None
    err.print(f"IMAP ok: {mailbox.folder} has {info.get(b'EXISTS', 0)} messages; IDLE {'yes' if idle else 'no'}")
    if mailbox.smtp_host:
        async def smtp_check():
            smtp = aiosmtplib.SMTP(hostname=mailbox.smtp_host, port=mailbox.smtp_port, timeout=15,
                                   use_tls=mailbox.smtp_security == "tls",
                                   start_tls=mailbox.smtp_security == "starttls")
            await smtp.connect()
            if mailbox.smtp_user:
                await smtp.login(mailbox.smtp_user, mailbox.smtp_password or "")
            await smtp.quit()

        try:
            run(smtp_check())
        except Exception as error:  # noqa: BLE001
            raise CliError(f"SMTP {mailbox.smtp_host}:{mailbox.smtp_port}: {type(error).__name__}: {error}") from None
        err.print("SMTP ok")


@mailboxes.command("remove")
@click.argument("address")
@click.pass_context
def mailboxes_remove(ctx: click.Context, address: str) -> None:
    """Remove a mailbox (its tickets and messages stay)."""
    async def work(sessions):
        mailbox = await _mailbox(sessions, address)
        async with sessions() as session:
            await session.delete(await session.get(Mailbox, mailbox.id))
            await session.commit()

    run(with_database(settings_of(ctx), work))
    err.print(f"removed mailbox {address}")


async def _mailbox(sessions, address: str) -> Mailbox:
    """The mailbox at `address`, or with that id."""
    async with sessions() as session:
        if address.strip().isdigit():
            mailbox = await session.get(Mailbox, int(address))
        else:
            mailbox = await session.scalar(select(Mailbox).where(Mailbox.address == address.strip().lower()))
    if mailbox is None:
        raise CliError(f"no mailbox {address}; see `helpdesk mailboxes list`")
    return mailbox


# --------------------------------------------------------------------------- mail poll

@click.group()
def mail() -> None:
    """Read mail from the mailboxes."""


@mail.command("poll")
@click.option("--once", is_flag=True, help="Poll once and exit (default: keep listening with IDLE).")
@click.option("--mailbox", "address", help="Only this mailbox.")
@click.option("--since", help="Also import older mail since this date (YYYY-MM-DD), skipping what is known.")
@click.pass_context
def mail_poll(ctx: click.Context, once: bool, address: str | None, since: str | None) -> None:
    """Fetch new mail into tickets. SIGTERM ends it cleanly: the batch in progress is committed first."""
    from channels.email.imap import IdleSupervisor, parse_since, poll_mailboxes

    settings = settings_of(ctx)
    try:
        since_date = parse_since(since)
    except ValueError:
        raise CliError(f"--since must be a date like 2026-01-31, not {since!r}") from None
    if address:
        run(with_database(settings, lambda s: _mailbox(s, address)))
    stop = _stop_on_sigterm()
    reports = run(with_database(settings, lambda s: poll_mailboxes(s, settings=settings, address=address,
                                                                    since=since_date, stop=stop)))
    failed = [r for r in reports if isinstance(r, Exception)]
    for report in reports:
        if not isinstance(report, Exception):
            err.print(f"{report.mailbox}: {report.ingested} ingested, {report.duplicates} duplicates, "
                      f"{report.quarantined} quarantined, {report.tickets_created} new tickets"
                      + (" (stopped on SIGTERM; the next poll goes on from there)" if report.stopped else ""))
    for error in failed:
        err.print(f"[red]{error}[/red]")
    if once or stop.is_set():
        if failed:
            raise CliError(f"{len(failed)} mailbox(es) could not be read")
        return
    if address:
        raise CliError("listening is for all mailboxes; use --once with --mailbox")
    supervisor = IdleSupervisor(settings)
    supervisor.start()
    err.print("listening for new mail (IMAP IDLE); Ctrl-C to stop")
    try:
        stop.wait()
    finally:
        supervisor.stop()  # each listener commits the batch it is ingesting, then ends


def _stop_on_sigterm() -> threading.Event:
    """An event SIGTERM sets (instead of killing the process, which would roll back the batch in progress)."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    return stop


# --------------------------------------------------------------------------- import mail

IMPORT_BATCH = 100  # messages per transaction: one COMMIT each, memory bounded by 100 raw mails


async def import_files(sessions, paths: list[Path], *, settings: Settings, progress=None) -> Tally:
    """Ingest mail files in date order through the same path as IMAP, a batch per transaction."""
    from channels.email.mailfiles import find_mail
    from channels.email.receive import Tally, own_addresses, receive_many
    from helpdesk.inbound.pipeline import quarantine
    from helpdesk.files import store_blob

    found = find_mail(paths)
    summary = Tally()
    async with sessions() as session:
        own = await own_addresses(session)
    task = progress.add_task("importing mail", total=len(found)) if progress else None
    for start in range(0, len(found), IMPORT_BATCH):
        raws = []
        for item in found[start:start + IMPORT_BATCH]:
            try:
                raws.append(item.load())
            except OSError as error:
                # unreadable on disk: nothing to keep but the fact, so quarantine a note of it
                ref = store_blob(settings.raw_dir, f"unreadable: {item.label}".encode())
                await quarantine(sessions, "email", ref, f"{item.label}: {error}", account=None)
                summary.quarantined += 1
        for outcome in await receive_many(sessions, raws, settings=settings, account=None, own=own):
            summary.add(outcome)
        if progress:
            progress.advance(task, len(found[start:start + IMPORT_BATCH]))
    return summary


@click.command("mail")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary on stdout.")
@click.pass_context
def import_mail(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Import .eml files, mbox files and Maildir folders, oldest first."""
    settings = settings_of(ctx)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=as_json) as progress:
        summary = run(with_database(settings, lambda s: import_files(s, list(paths), settings=settings,
                                                                      progress=progress)))
    if as_json:
        click.echo(json.dumps(summary.as_dict()))
    else:
        err.print(f"{summary.ingested} ingested ({summary.tickets_created} new tickets), "
                  f"{summary.duplicates} duplicates, {summary.quarantined} quarantined")
