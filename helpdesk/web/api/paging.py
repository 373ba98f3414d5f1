"""Cursor pagination: keyset on id, ascending. The cursor is opaque to callers (base64 of a version
and the last id seen), so a walk sees every row once even while rows are added."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Annotated, Any, Callable
from urllib.parse import urlencode

from litestar import Request
from litestar.params import Parameter

from helpdesk.models.base import MAX_ID
from helpdesk.web.api.problems import Problem
from helpdesk.web.api.schemas import Page

DEFAULT_LIMIT = 50
MAX_LIMIT = 200

Limit = Annotated[int, Parameter(ge=1, le=MAX_LIMIT, default=DEFAULT_LIMIT, description="rows per page")]
Cursor = Annotated[str | None, Parameter(max_length=100, default=None, examples=None,
                                         description="the `next` link's cursor; leave out for the first page")]


def encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def after_id(cursor: str | None) -> int:
    """The id a cursor continues after (0: from the start); 400 for a cursor we did not make."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    version, _, number = text.partition(":")
    if version != "v1" or not number.isdigit() or int(number) > MAX_ID:
        raise Problem(400, "this cursor is not one we gave out: use the `next` link of the previous page",
                      errors=[{"field": "cursor", "detail": "unknown cursor"}])
    return int(number)


def page(request: Request, rows: Sequence[Any], limit: int, convert: Callable[[Any], Any]) -> Page:
    """One page from `limit + 1` rows read in id order: the extra row only says there is more."""
    shown = list(rows[:limit])
    next_url = None
    if len(rows) > limit and shown:
        query = {k: v for k, v in request.query_params.items() if k != "cursor"}
        query["cursor"] = encode(shown[-1].id)
        next_url = f"{request.url.path}?{urlencode(query)}"
    return Page(data=[convert(row) for row in shown], next=next_url)
