"""Email in over IMAP: a poller with UID bookkeeping and an IDLE listener per mailbox.

Bookkeeping (RFC 3501 2.3.1.1): a UID names a message only together with the folder's
UIDVALIDITY. We remember both in `Mailbox` and advance `last_uid` only after the messages
up to it are committed, so a crash at any point re-reads and dedupes (ingest is idempotent
on Message-ID) rather than losing or doubling. When UIDVALIDITY changes, old UIDs mean
nothing: the folder is re-read, skipping by Message-ID what we already have. A first sync and
a re-sync advance the bookmark batch by batch too (`sync_until` marks one under way), so a
poller stopped in the middle of a 2,000-mail first sync resumes where it stopped.

IMAPClient is blocking; its calls run in a worker thread (`asyncio.to_thread`) so the event
loop that ingests is never blocked, whether it belongs to a Dramatiq worker, the CLI, or a
listener thread of `IdleSupervisor`.
"""
from __future__ import annotations

import asyncio
import imaplib
import logging
import ssl
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from email.parser import BytesHeaderParser

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.receive import Tally, own_addresses, receive_many
from helpdesk import db
from helpdesk.files import store_blob
from helpdesk.models import Mailbox, Message, utcnow
from helpdesk.settings import Settings

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]

BATCH = 250  # messages per FETCH and per transaction: memory stays bounded, few round trips and COMMITs
IDLE_RENEW_SECONDS = 9 * 60  # RFC 2177: re-issue IDLE well before servers' 29-minute cut-off
CONNECTION_ERRORS = (OSError, imaplib.IMAP4.abort, EOFError)  # IMAPClientAbortError is an IMAP4.abort


class MailboxUnavailable(Exception):
    """The mailbox could not be read (login refused, server unreachable after retries)."""


@dataclass
class PollReport(Tally):
    mailbox: str = ""
    uids: list[int] = field(default_factory=list)
    stopped: bool = False  # asked to stop: the batch in progress was committed, the rest waits


def connect(mailbox: Mailbox, *, timeout: float = 30) -> IMAPClient:
    """Log in (password or XOAUTH2) over TLS, STARTTLS or plain, and select the folder."""
    context = ssl.create_default_context()
    client = IMAPClient(mailbox.imap_host, port=mailbox.imap_port, ssl=mailbox.imap_security == "tls",
                        ssl_context=context, timeout=timeout)
    try:
        if mailbox.imap_security == "starttls":
            client.starttls(context)
        if mailbox.oauth2_token:
            client.oauth2_login(mailbox.imap_user or mailbox.address, mailbox.oauth2_token)
        else:
            client.login(mailbox.imap_user or mailbox.address, mailbox.imap_password or "")
    except Exception:
        _quietly(client.logout)
        raise
    return client


class MailboxReader:
    """One IMAP connection to one mailbox: reads what is new, ingests it, waits for more."""

    retries = 4  # connection attempts per poll
    backoff = 1.0  # seconds, doubled per attempt

    def __init__(self, sessions: Sessions, mailbox_id: int, *, settings: Settings,
                 stop: threading.Event | None = None) -> None:
        self.sessions = sessions
        self.mailbox_id = mailbox_id
        self.settings = settings
        # set (by SIGTERM, a supervisor shutting down): finish the batch in progress, save its bookmark, return
        self.stop = stop or threading.Event()
        self.client: IMAPClient | None = None
        self._client_lock = threading.Lock()  # IMAPClient is not thread-safe: one command at a time

    async def poll(self, *, since: date | None = None) -> PollReport:
        """Ingest every message not read yet; reconnects with back-off when the connection drops."""
        for attempt in range(1, self.retries + 1):
            async with self.sessions() as session:
                mailbox = await session.get(Mailbox, self.mailbox_id)
                own = await own_addresses(session)
            report = PollReport(mailbox=mailbox.address)
            try:
                await self._poll(mailbox, own, report, since)
            except LoginError as error:
                await self.close()
                await self._record_error(f"login refused: {error}")
                raise MailboxUnavailable(f"{mailbox.address}: login refused by {mailbox.imap_host}") from error
            except CONNECTION_ERRORS as error:
                await self.close()
                log.warning("IMAP %s: connection lost (%s), attempt %s/%s", mailbox.address, error, attempt, self.retries)
                if attempt == self.retries or self.stop.is_set():
                    await self._record_error(f"connection failed: {error}")
                    raise MailboxUnavailable(f"{mailbox.address}: {mailbox.imap_host}:{mailbox.imap_port} "
                                             f"unreachable ({error})") from error
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            await self._record_error(None)
            return report
        raise AssertionError("unreachable")

    async def _poll(self, mailbox: Mailbox, own: frozenset[str], report: PollReport, since: date | None) -> None:
        client = await self._connected(mailbox)
        selected = await asyncio.to_thread(client.select_folder, mailbox.folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        sync = await self._sync(client, mailbox, uidvalidity, int(selected.get(b"UIDNEXT") or 0))
        bookmark = mailbox.last_uid
        candidates: list[int] = []
        backfill = False
        if sync is not None:
            # first contact reads the unread mail ("unseen"), never the whole archive unasked; a re-sync
            # reads every message ("all") whose Message-ID we do not have: both up to `sync.until`, from
            # after the last UID that an earlier, interrupted run of the same sync committed
            bookmark = max(sync.until, sync.done)
            if sync.until > sync.done:
                unseen = ["UNSEEN"] if sync.scope == "unseen" else []
                found = await self._search(client, ["UID", f"{sync.done + 1}:{sync.until}", *unseen])
                candidates = await self._unknown(client, found)
            if sync.scope == "unseen" and since is None and mailbox.backfill_since:
                since, backfill = mailbox.backfill_since.date(), True
        # new mail; "n:*" always matches the highest UID, even below n (RFC 3501 6.4.8)
        candidates += [uid for uid in await self._search(client, ["UID", f"{bookmark + 1}:*"]) if uid > bookmark]
        if since is not None:
            older = await self._unknown(client, await self._search(client, ["SINCE", since]))
            if backfill:
                older = [uid for uid in older if uid > sync.done]  # batches are in UID order: those are done
            candidates = sorted(set(candidates) | set(older))

        # The next batch is fetched and written to the raw store in a worker thread while this one is
        # ingested: FETCH and file-system waits overlap the ingest (measured: see docs/performance.md).
        batches = [candidates[start:start + BATCH] for start in range(0, len(candidates), BATCH)]
        ahead = self._read_ahead(client, batches, 0)
        try:
            for number, batch in enumerate(batches):
                if self.stop.is_set():
                    report.stopped = True
                    return
                raws = await ahead
                ahead = self._read_ahead(client, batches, number + 1)
                # one transaction per fetched batch, in mailbox order: a reply always finds the message
                # it answers, even one fetched in the same batch (measured on PostgreSQL: 358 msg/s
                # against 307 for one transaction per message with 8 side by side)
                outcomes = await receive_many(self.sessions, [raw for _, raw in raws], settings=self.settings,
                                              account=mailbox.address, own=own, auto_ack=mailbox.auto_ack)
                for (uid, _), outcome in zip(raws, outcomes):
                    report.add(outcome)
                    report.uids.append(uid)
                # after every committed batch, first syncs too: a restart resumes here instead of rescanning
                await _save_progress(self.sessions, mailbox.id, uidvalidity, max(batch))
                await asyncio.to_thread(self._after_processed, client, mailbox, batch)
        finally:
            if ahead is not None:  # stopped or failed: let the read-ahead finish with the connection
                await asyncio.wait([ahead])
                if not ahead.cancelled():
                    ahead.exception()  # retrieved: a failure there is this poll's failure already
        if sync is not None:
            await _end_sync(self.sessions, mailbox.id, uidvalidity, sync.until)

    async def _sync(self, client: IMAPClient, mailbox: Mailbox, uidvalidity: int, uidnext: int) -> _Sync | None:
        """The first sync or re-sync this poll starts or resumes; None when the bookmark is current."""
        if mailbox.uidvalidity == uidvalidity:
            if mailbox.sync_until is None:
                return None
            return _Sync(mailbox.sync_scope or "all", mailbox.last_uid, mailbox.sync_until)
        if mailbox.uidvalidity is None:
            scope = "unseen"
        else:
            scope = "all"
            log.warning("IMAP %s: UIDVALIDITY changed %s -> %s; re-reading by Message-ID",
                        mailbox.address, mailbox.uidvalidity, uidvalidity)
        # the sync covers what the folder holds now; what arrives later is new mail
        until = uidnext - 1 if uidnext else max(await self._search(client, ["ALL"]), default=0)
        await _start_sync(self.sessions, mailbox.id, uidvalidity, until, scope)
        return _Sync(scope, 0, until)

    async def wait_for_mail(self, stop: threading.Event, *, timeout: float = IDLE_RENEW_SECONDS) -> bool:
        """IDLE (RFC 2177) until the server reports new mail, `timeout` passes or `stop` is set."""
        client = self.client
        if client is None:
            raise MailboxUnavailable("wait_for_mail before poll")
        await asyncio.to_thread(client.idle)
        try:
            deadline = time.monotonic() + timeout
            while not stop.is_set() and time.monotonic() < deadline:
                # one-second slices keep stop() prompt; data wakes idle_check at once
                responses = await asyncio.to_thread(client.idle_check, 1)
                if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses):
                    return True
        finally:
            await asyncio.to_thread(client.idle_done)
        return False

    async def supports_idle(self) -> bool:
        return self.client is not None and await asyncio.to_thread(self.client.has_capability, "IDLE")

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            await asyncio.to_thread(_quietly, client.logout)

    async def _connected(self, mailbox: Mailbox) -> IMAPClient:
        if self.client is None:
            self.client = await asyncio.to_thread(connect, mailbox)
        return self.client

    @staticmethod
    async def _search(client: IMAPClient, criteria: list) -> list[int]:
        return sorted(await asyncio.to_thread(client.search, criteria))

    async def _unknown(self, client: IMAPClient, uids: list[int]) -> list[int]:
        """The UIDs whose Message-ID we have not ingested: re-syncs fetch headers, not whole mail."""
        async with self.sessions() as session:
            if not uids or await session.scalar(select(Message.id).where(Message.channel == "email").limit(1)) is None:
                return uids  # no email at all yet (a new helpdesk's first mailbox): none can be known
        unknown: list[int] = []
        parser = BytesHeaderParser()
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            fetched = await asyncio.to_thread(client.fetch, chunk, ["BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"])
            ids: dict[int, str | None] = {}
            for uid in chunk:
                header = next((v for k, v in fetched.get(uid, {}).items() if k.startswith(b"BODY[HEADER")), b"")
                value = parser.parsebytes(header or b"").get("Message-ID")
                ids[uid] = str(value).strip() if value else None
            async with self.sessions() as session:
                known = set(await session.scalars(
                    select(Message.external_id).where(Message.channel == "email",
                                                      Message.external_id.in_([i for i in ids.values() if i]))
                ))
            # without a Message-ID the parser names it by its bytes: let ingest dedupe those
            unknown.extend(uid for uid, message_id in ids.items() if message_id not in known)
        return unknown

    def _read_ahead(self, client: IMAPClient, batches: list[list[int]], number: int) -> asyncio.Future | None:
        if number >= len(batches):
            return None
        return asyncio.ensure_future(asyncio.to_thread(self._fetch_and_store, client, batches[number]))

    def _fetch_and_store(self, client: IMAPClient, uids: list[int]) -> list[tuple[int, bytes]]:
        """FETCH a batch and write its raw mail to the store (which ingest then finds there); a worker thread."""
        with self._client_lock:
            fetched = client.fetch(uids, ["BODY.PEEK[]"])
        raws = []
        for uid in uids:
            data = fetched.get(uid)
            if data is None or b"BODY[]" not in data:
                continue  # expunged meanwhile by another client
            raws.append((uid, data[b"BODY[]"]))
            store_blob(self.settings.raw_dir, data[b"BODY[]"])
        return raws

    def _after_processed(self, client: IMAPClient, mailbox: Mailbox, uids: list[int]) -> None:
        """Move or flag processed mail; a worker thread, taking turns with the read-ahead on the connection."""
        with self._client_lock:
            if mailbox.processed_folder:
                if client.has_capability("MOVE"):
                    client.move(uids, mailbox.processed_folder)
                else:
                    client.copy(uids, mailbox.processed_folder)
                    client.delete_messages(uids)
                    client.uid_expunge(uids)
            elif mailbox.mark_seen:
                client.add_flags(uids, [b"\\Seen"])

    async def _record_error(self, error: str | None) -> None:
        async with self.sessions() as session:
            await session.execute(
                update(Mailbox).where(Mailbox.id == self.mailbox_id)
                .values(last_error=error[:1000] if error else None, last_polled_at=utcnow())
            )
            await session.commit()


@dataclass(frozen=True)
class _Sync:
    scope: str  # "unseen": first contact reads unread mail; "all": a re-sync reads unknown Message-IDs
    done: int  # the last UID an earlier run of this sync committed (0: none)
    until: int  # the sync covers UIDs up to here; above is new mail


async def _save_progress(sessions: Sessions, mailbox_id: int, uidvalidity: int, last_uid: int) -> None:
    """Advance the bookmark; never backwards, so two pollers of one mailbox cannot undo each other."""
    async with sessions() as session:
        await session.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id, Mailbox.uidvalidity == uidvalidity, Mailbox.last_uid < last_uid)
            .values(last_uid=last_uid)
        )
        await session.commit()


async def _start_sync(sessions: Sessions, mailbox_id: int, uidvalidity: int, until: int, scope: str) -> None:
    """Old UIDs mean nothing under a new UIDVALIDITY: the bookmark restarts inside a sync up to `until`."""
    async with sessions() as session:
        await session.execute(
            update(Mailbox).where(Mailbox.id == mailbox_id)
            .values(uidvalidity=uidvalidity, last_uid=0, sync_until=until, sync_scope=scope)
        )
        await session.commit()


async def _end_sync(sessions: Sessions, mailbox_id: int, uidvalidity: int, until: int) -> None:
    async with sessions() as session:
        await session.execute(
            update(Mailbox).where(Mailbox.id == mailbox_id, Mailbox.uidvalidity == uidvalidity)
            .values(last_uid=case((Mailbox.last_uid < until, until), else_=Mailbox.last_uid),
                    sync_until=None, sync_scope=None)
        )
        await session.commit()


async def poll_mailboxes(sessions: Sessions, *, settings: Settings, address: str | None = None,
                         since: date | None = None, stop: threading.Event | None = None,
                         ) -> list[PollReport | Exception]:
    """Poll every active mailbox (or the one at `address`) once, side by side; `stop` ends each
    after its batch in progress."""
    query = select(Mailbox.id).where(Mailbox.active.is_(True), Mailbox.imap_host.is_not(None)).order_by(Mailbox.id)
    if address:
        query = select(Mailbox.id).where(Mailbox.address == address.strip().lower())
    async with sessions() as session:
        ids = list(await session.scalars(query))

    async def one(mailbox_id: int) -> PollReport | Exception:
        reader = MailboxReader(sessions, mailbox_id, settings=settings, stop=stop)
        try:
            return await reader.poll(since=since)
        except (MailboxUnavailable, IMAPClientError) as error:
            log.error("polling mailbox %s failed: %s", mailbox_id, error)
            return error
        finally:
            await reader.close()

    return list(await asyncio.gather(*(one(i) for i in ids)))


class IdleSupervisor:
    """Keeps one IDLE listener thread per active IMAP mailbox; new mail becomes a ticket in seconds.

    Mailboxes added or removed in the database are picked up every `refresh_seconds`.
    Servers without IDLE are polled every `fallback_seconds` by the same listener.
    """

    def __init__(self, settings: Settings, *, refresh_seconds: float = 60, fallback_seconds: float = 60) -> None:
        self.settings = settings
        self.refresh_seconds = refresh_seconds
        self.fallback_seconds = fallback_seconds
        self._stop = threading.Event()
        self._listeners: dict[int, _Listener] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervise, name="imap-idle-supervisor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        for listener in list(self._listeners.values()):
            listener.stop.set()
        for listener in list(self._listeners.values()):
            listener.join(timeout)
        if self._thread is not None:
            self._thread.join(timeout)

    def _supervise(self) -> None:
        # one event loop for the supervisor's life, so its database engine is made once (helpdesk.db)
        loop = asyncio.new_event_loop()
        try:
            self._supervise_on(loop)
        finally:
            loop.run_until_complete(db.dispose_sessions())
            loop.close()

    def _supervise_on(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop.is_set():
            try:
                wanted = loop.run_until_complete(self._idle_mailboxes())
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again next round
                log.exception("IMAP supervisor could not list mailboxes")
                wanted = set(self._listeners)
            for mailbox_id in wanted - set(self._listeners):
                listener = _Listener(self.settings, mailbox_id, self.fallback_seconds)
                self._listeners[mailbox_id] = listener
                listener.start()
            for mailbox_id in set(self._listeners) - wanted:
                self._listeners.pop(mailbox_id).stop.set()
            for mailbox_id, listener in list(self._listeners.items()):
                if not listener.is_alive() and not self._stop.is_set():
                    del self._listeners[mailbox_id]  # restarted next round
            self._stop.wait(self.refresh_seconds)

    async def _idle_mailboxes(self) -> set[int]:
        async with db.sessions(self.settings)() as session:
            return set(await session.scalars(
                select(Mailbox.id).where(Mailbox.active.is_(True), Mailbox.use_idle.is_(True),
                                         Mailbox.imap_host.is_not(None))
            ))


class _Listener(threading.Thread):
    """One mailbox: poll, IDLE until mail arrives, poll again; its own event loop (and so its own engine)."""

    def __init__(self, settings: Settings, mailbox_id: int, fallback_seconds: float) -> None:
        super().__init__(name=f"imap-idle-{mailbox_id}", daemon=True)
        self.settings = settings
        self.mailbox_id = mailbox_id
        self.fallback_seconds = fallback_seconds
        self.stop = threading.Event()

    def run(self) -> None:
        asyncio.run(self._listen())

    async def _listen(self) -> None:
        reader = MailboxReader(db.sessions(self.settings), self.mailbox_id, settings=self.settings, stop=self.stop)
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    await reader.poll()
                    failures = 0
                    if await reader.supports_idle():
                        await reader.wait_for_mail(self.stop)
                    else:
                        await asyncio.to_thread(self.stop.wait, self.fallback_seconds)
                except Exception as error:  # noqa: BLE001 - a listener must outlive any one failure
                    failures += 1
                    delay = min(2 ** failures, 300)
                    log.warning("IMAP listener %s: %s; retrying in %ss", self.mailbox_id, error, delay)
                    await reader.close()
                    await asyncio.to_thread(self.stop.wait, delay)
        finally:
            await reader.close()
            await db.dispose_sessions()


def _quietly(call) -> None:
    try:
        call()
    except Exception:  # noqa: BLE001 - closing a connection that may already be gone
        pass


def parse_since(value: str | None) -> date | None:
    return datetime.strptime(value, "%Y-%m-%d").date() if value else None
