"""Ticket search: one function over SQLite FTS5 or PostgreSQL tsvector + GIN.

The index (migration 0003) holds one document per ticket: subject, customer name and
identities, message text. Every word of the query must match; the last word also matches
as a prefix, so results follow the agent's typing. Ranking weighs subject over customer over
message text among the newest CANDIDATES matching tickets: a broad word ("refund") matches
a tenth of a large helpdesk, and ranking all of it costs a second, not milliseconds. Paging
walks the ranked window, then the next CANDIDATES older matches, so every match is reachable.

`find` is what the console's search box asks: a ticket number (`241`, `#241`) puts that
ticket first, an email address or phone number finds the customers who own it, and the
text search follows.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from html import escape

from markupsafe import Markup
from sqlalchemy import ARRAY, Integer, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from helpdesk.customers.identities import PHONE_KINDS, InvalidIdentity, normalise_identity
from helpdesk.customers.records import CustomerMatch, customers_with_identity

# Below three letters a prefix matches a large part of the vocabulary: slow and useless.
MIN_PREFIX = 3
MAX_WORDS = 8
MAX_LIMIT = 100
CANDIDATES = 400
SNIPPET_CHARS = 160

NO_TICKET_ID = 2**62  # above every id: the first window has no upper bound
_NUMBER = re.compile(r"#?\s*(\d{1,18})")
_EMAIL = re.compile(r"[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+")
_PHONE = re.compile(r"(?:\+|00)[\d\s()./-]+")

# A token is a run of letters and digits: what FTS5's unicode61 produces, and what the
# PostgreSQL index sees after helpdesk_search_vector() splits emails and paths.
_TOKEN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class SearchHit:
    ticket_id: int
    number: int | None
    subject: str
    customer_name: str | None
    status: str
    channel: str
    snippet: Markup  # escaped text with the matching words in <mark>
    rank: float  # higher is better; comparable only within one result list


@dataclass(frozen=True)
class SearchPage:
    hits: list[SearchHit]
    after: str | None  # the cursor of the next page; None when this is the last


@dataclass(frozen=True)
class Found:
    """What the search box shows: the numbered ticket, the customers owning the typed email or
    phone (both on the first page only), then a page of text matches."""

    ticket: SearchHit | None
    customers: list[CustomerMatch]
    page: SearchPage

    @property
    def empty(self) -> bool:
        return self.ticket is None and not self.customers and not self.page.hits


async def find(session: AsyncSession, query: str, *, after: str | None = None, limit: int = 20) -> Found:
    """The search box's answer to `query`; `after` is a cursor from the previous page."""
    ticket, customers = None, []
    if after is None:
        number = ticket_number(query)
        if number is not None:
            ticket = await _numbered_hit(session, number)
        identities = identity_queries(query)
        if identities:
            customers = await customers_with_identity(session, identities)
    page = await search_page(session, query, after=after, limit=limit)
    if ticket is not None:
        page = SearchPage([hit for hit in page.hits if hit.ticket_id != ticket.ticket_id], page.after)
    return Found(ticket, customers, page)


async def numbered_ticket(session: AsyncSession, query: str) -> int | None:
    """The id of the ticket whose number is the whole query (`241`, `#241`), if there is one."""
    number = ticket_number(query)
    if number is None:
        return None
    return (await session.execute(_TICKET_BY_NUMBER, {"number": number})).scalar()


def ticket_number(query: str) -> int | None:
    match = _NUMBER.fullmatch(query.strip())
    return int(match.group(1)) if match else None


def identity_queries(query: str) -> list[tuple[str, str]]:
    """The normalised identities a query may be: an email address, or a phone number written
    internationally (`+49 151 2345678`, `0049 151…`) for every phone-like kind."""
    query = query.strip()
    try:
        if _EMAIL.fullmatch(query):
            return [normalise_identity("email", query)]
        if _PHONE.fullmatch(query) and 7 <= sum(ch.isdigit() for ch in query) <= 15:
            return sorted(normalise_identity(kind, query) for kind in PHONE_KINDS)
    except InvalidIdentity:
        pass
    return []


async def search(session: AsyncSession, query: str, *, limit: int = 20) -> list[SearchHit]:
    """Tickets matching every word of `query` (the last one as a prefix), best first."""
    return (await search_page(session, query, limit=limit)).hits


async def search_page(session: AsyncSession, query: str, *, after: str | None = None,
                      limit: int = 20) -> SearchPage:
    """One page of `search`: the cursor names the window of CANDIDATES newest matches below a
    ticket id and the offset in its ranking, so a page costs what the first one does."""
    words = _words(query)
    if not words:
        return SearchPage([], None)
    limit = max(1, min(limit, MAX_LIMIT))
    below, offset = _cursor(after)
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        params = {"match": _fts5_query(words)}
    else:
        indexed = _selective_part(words)
        params = {"match": _tsquery(words), "indexed": _tsquery(indexed, prefix=indexed is words)}
    params.update(limit=limit + 1, offset=offset, candidates=CANDIDATES)
    rows = (await session.execute(_statement(dialect, below), params)).all()
    if not rows:
        return SearchPage([], None)
    if len(rows) > limit:
        rows, after = rows[:limit], f"{below}.{offset + limit}"
    elif rows[0].found >= CANDIDATES:  # this window is done; older matches follow
        after = f"{rows[0].floor}.0"
    else:
        after = None
    texts = await _recent_texts(session, [row.id for row in rows])
    terms, prefix = _snippet_terms(words)
    return SearchPage([_hit(row, _snippet(texts.get(row.id, []), terms, prefix), float(row.rank)) for row in rows],
                      after)


def _hit(row, snippet: Markup, rank: float) -> SearchHit:
    return SearchHit(ticket_id=row.id, number=row.number, subject=row.subject, customer_name=row.customer_name,
                     status=row.status, channel=row.channel, rank=rank, snippet=snippet)


def _cursor(after: str | None) -> tuple[int, int]:
    """(below, offset) from `after`; a missing or mangled cursor is the first page."""
    below, _, offset = (after or "").partition(".")
    if below.isdigit() and offset.isdigit() and 0 < int(below) <= NO_TICKET_ID and int(offset) < CANDIDATES:
        return int(below), int(offset)
    return NO_TICKET_ID, 0


async def _numbered_hit(session: AsyncSession, number: int) -> SearchHit | None:
    row = (await session.execute(_NUMBERED_HIT, {"number": number})).first()
    if row is None:
        return None
    texts = await _recent_texts(session, [row.id])
    return _hit(row, _snippet(texts.get(row.id, []), set(), None), 0.0)


# `floor` (the window's oldest ticket) and `found` (its size) are counted before LIMIT/OFFSET:
# the next window starts below the floor when this one was full.
_SQLITE_SEARCH = """
    SELECT t.id, t.number, t.subject, c.name AS customer_name, t.status, t.channel, hit.rank, hit.floor, hit.found
    FROM (SELECT ticket_id, rank, min(ticket_id) OVER () AS floor, count(*) OVER () AS found FROM (
              SELECT rowid AS ticket_id, -bm25(ticket_search, 10.0, 4.0, 1.0) AS rank
              FROM ticket_search WHERE ticket_search MATCH :match {below}
              ORDER BY rowid DESC LIMIT :candidates)
          ORDER BY rank DESC, ticket_id DESC LIMIT :limit OFFSET :offset) AS hit
    JOIN tickets t ON t.id = hit.ticket_id
    LEFT JOIN customers c ON c.id = t.customer_id
    ORDER BY hit.rank DESC, t.id DESC
"""

# Weights {D, C, B, A}: subject (A) over customer (B) over message text (D); normalisation 1
# divides by the log of the document length, so a long thread does not win by volume alone.
# `indexed` is what the GIN index looks up; the full query is then checked on those rows with
# ts_match_vq (the function behind @@, which the planner does not hand to the index), because
# a prefix such as `exam:*` in a half-typed email expands to a posting list of most tickets.
_POSTGRES_SEARCH = """
    SELECT t.id, t.number, t.subject, c.name AS customer_name, t.status, t.channel, hit.rank, hit.floor, hit.found
    FROM (SELECT candidate.ticket_id, ts_rank('{0.1, 0.2, 0.4, 1.0}', candidate.document, q.query, 1) AS rank,
                 min(candidate.ticket_id) OVER () AS floor, count(*) OVER () AS found
          FROM to_tsquery('simple', :match) AS q(query), to_tsquery('simple', :indexed) AS i(query),
               LATERAL (SELECT s.ticket_id, s.document FROM ticket_search s
                        WHERE s.document @@ i.query AND ts_match_vq(s.document, q.query) {below}
                        ORDER BY s.ticket_id DESC LIMIT :candidates) AS candidate
          ORDER BY rank DESC, candidate.ticket_id DESC LIMIT :limit OFFSET :offset) AS hit
    JOIN tickets t ON t.id = hit.ticket_id
    LEFT JOIN customers c ON c.id = t.customer_id
    ORDER BY hit.rank DESC, t.id DESC
"""

_TICKET_BY_NUMBER = text("SELECT id FROM tickets WHERE number = :number")
_NUMBERED_HIT = text("""
    SELECT t.id, t.number, t.subject, c.name AS customer_name, t.status, t.channel
    FROM tickets t LEFT JOIN customers c ON c.id = t.customer_id
    WHERE t.number = :number
""")

# The window's bound is written into the statement, not bound as a parameter: asyncpg prepares
# statements, and after five runs PostgreSQL's generic plan for `ticket_id < $n` walks the primary
# key backwards for a rare word (450-550 ms instead of 1-2 ms on the 1M-ticket bench database).
_BOUNDS = {"sqlite": "AND rowid < {below:d}", "postgresql": "AND s.ticket_id < {below:d}"}
_FIRST_WINDOW = {"sqlite": text(_SQLITE_SEARCH.replace("{below}", "")),
                 "postgresql": text(_POSTGRES_SEARCH.replace("{below}", ""))}


def _statement(dialect: str, below: int):
    if below >= NO_TICKET_ID:
        return _FIRST_WINDOW[dialect]
    sql = _SQLITE_SEARCH if dialect == "sqlite" else _POSTGRES_SEARCH
    return text(sql.replace("{below}", _BOUNDS[dialect].format(below=below)))


_RECENT_TEXTS = text("""
    SELECT ticket_id, text FROM (
        SELECT ticket_id, text, row_number() OVER (PARTITION BY ticket_id ORDER BY id DESC) AS n
        FROM messages WHERE ticket_id IN :ids) AS recent
    WHERE n <= 20
""").bindparams(bindparam("ids", expanding=True))


def _words(query: str) -> list[list[str]]:
    """The query as words, each a list of tokens: `ann@x.com` is one word of three tokens."""
    words = [_TOKEN.findall(word.lower()) for word in query.split()]
    words = [word for word in words if word][:MAX_WORDS]
    if words and len(words[-1]) > 1 and len(words[-1][-1]) < MIN_PREFIX:
        words[-1] = words[-1][:-1]  # "ann@ex": the "ex" is still being typed; "ann" already narrows
    return words


def _selective_part(words: list[list[str]]) -> list[list[str]]:
    """What the index should look up: the query without its trailing prefix when the rest is
    an identity-like phrase (several tokens, or digits) that is selective on its own."""
    last = words[-1]
    if not _is_prefix(words, len(words) - 1) or len(last) < 2:
        return words
    rest = last[:-1]
    if len(rest) >= 2 or any(ch.isdigit() for ch in "".join(rest)):
        return words[:-1] + [rest]
    return words


def _is_prefix(words: list[list[str]], i: int) -> bool:
    return i == len(words) - 1 and len(words[i][-1]) >= MIN_PREFIX


def _fts5_query(words: list[list[str]]) -> str:
    # Tokens are letters and digits only, so quoting them as FTS5 strings is injection-proof:
    # OR, NOT, NEAR, column filters and quotes in the query are plain text here.
    return " ".join(f'"{" ".join(word)}"' + ("*" if _is_prefix(words, i) else "") for i, word in enumerate(words))


def _tsquery(words: list[list[str]], *, prefix: bool = True) -> str:
    # The same shape for to_tsquery: a word's tokens are a phrase (<->), words are ANDed.
    parts = []
    for i, word in enumerate(words):
        tokens = [f"'{token}'" for token in word]
        if prefix and _is_prefix(words, i):
            tokens[-1] += ":*"
        parts.append(" <-> ".join(tokens))
    return " & ".join(parts)


async def _recent_texts(session: AsyncSession, ticket_ids: list[int]) -> dict[int, list[str]]:
    """The last 20 message texts of each ticket, newest first: where snippets come from."""
    texts: dict[int, list[str]] = {}
    for ticket_id, body in await session.execute(_RECENT_TEXTS, {"ids": ticket_ids}):
        texts.setdefault(ticket_id, []).append(body or "")
    return texts


def _fold(token: str) -> str:
    """Lower case without accents, like unicode61's remove_diacritics."""
    decomposed = unicodedata.normalize("NFKD", token.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _snippet_terms(words: list[list[str]]) -> tuple[set[str], str | None]:
    terms = {_fold(token) for word in words for token in word}
    prefix = _fold(words[-1][-1]) if _is_prefix(words, len(words) - 1) else None
    return terms, prefix


def _snippet(texts: list[str], terms: set[str], prefix: str | None) -> Markup:
    """The best-matching passage of the newest messages, escaped, matches in <mark>."""
    best_text, best_spans, best_score = (texts[0] if texts else ""), [], (0, 0)
    for body in texts:
        spans, seen = [], set()
        for match in _TOKEN.finditer(body):
            token = _fold(match.group())
            if token in terms or (prefix and token.startswith(prefix)):
                spans.append(match.span())
                seen.add(token)
        score = (len(seen), len(spans))
        if score > best_score:
            best_text, best_spans, best_score = body, spans, score
    start = 0
    if best_spans:
        start = max(0, best_spans[0][0] - SNIPPET_CHARS // 4)
        if start:
            space = best_text.find(" ", start, best_spans[0][0])
            start = space + 1 if space != -1 else start
    end = min(len(best_text), start + SNIPPET_CHARS)
    if end < len(best_text):
        space = best_text.rfind(" ", start, end)
        end = space if space > start else end
    out, position = ["…" if start else ""], start
    for span_start, span_end in best_spans:
        if span_start < start or span_end > end:
            continue
        out.append(escape(best_text[position:span_start]))
        out.append(f"<mark>{escape(best_text[span_start:span_end])}</mark>")
        position = span_end
    out.append(escape(best_text[position:end]))
    out.append("…" if end < len(best_text) else "")
    return Markup(" ".join("".join(out).split()))


# --- keeping documents current in bulk (PostgreSQL; migration 0008) ------------------------
# Row triggers rebuild a ticket's document on every insert that concerns it. A writer that
# touches many tickets in one transaction (ingest) sets helpdesk.search_deferred for that
# transaction, which the triggers obey, and rebuilds each touched document once before COMMIT.

_DEFER = text("SELECT set_config('helpdesk.search_deferred', 'on', true)")
_REFRESH = text(
    "SELECT helpdesk_refresh_ticket_search(ARRAY(SELECT id FROM tickets "
    "WHERE id = ANY(:tickets) OR customer_id = ANY(:customers)))"
).bindparams(bindparam("tickets", type_=ARRAY(Integer)), bindparam("customers", type_=ARRAY(Integer)))


def defer_documents(conn) -> bool:
    """On a sync Core connection: stand the search triggers aside until this transaction ends.
    True when it did (PostgreSQL): the caller must then call `refresh_documents` before COMMIT."""
    if conn.dialect.name != "postgresql":
        return False
    conn.execute(_DEFER)
    return True


def refresh_documents(conn, ticket_ids, customer_ids=()) -> None:
    """Rebuild the documents of these tickets and of every ticket of these customers, in one call."""
    conn.execute(_REFRESH, {"tickets": sorted(ticket_ids), "customers": sorted(customer_ids)})
