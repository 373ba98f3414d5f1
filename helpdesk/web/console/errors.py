"""The console's errors: a page in the console's style, or for htmx a message swapped into view.

Registered on the console router, so paths outside /console (webhooks, /healthz, the API) keep
Litestar's JSON errors; `app.py` sends an unknown /console address here too. An htmx error keeps
its status code and names where it goes (`HX-Retarget: #console-alert`); `static/console.js`
lets htmx swap a retargeted error, which it would otherwise drop.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from litestar import Response
from litestar.connection import ASGIConnection
from litestar.exceptions import (
    HTTPException, MethodNotAllowedException, NotAuthorizedException, NotFoundException, PermissionDeniedException,
    ValidationException,
)
from litestar.handlers import BaseRouteHandler
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar_htmx import HTMXRequest, HTMXTemplate
from sqlalchemy.exc import DataError, DBAPIError

from helpdesk.models.base import MAX_ID

log = logging.getLogger(__name__)

VARY = {"Vary": "HX-Request"}  # as the router sends with every answer
CSRF_FAILED = "CSRF token verification failed"  # litestar.middleware.csrf's detail


@dataclass(frozen=True)
class ConsoleError:
    status_code: int
    title: str
    message: str


def ids_in_range(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """Guard: a path id larger than any row's id names nothing: 404 here, before the database
    (which would fail on the number) is asked."""
    for name, value in connection.path_params.items():
        if isinstance(value, int) and not -MAX_ID <= value <= MAX_ID:
            raise NotFoundException(f"there is no {name.removesuffix('_id').replace('_', ' ')} {value}")


CLIENT_GONE = "client disconnected prematurely"  # Litestar's words when a request body ends early


def describe(exc: Exception) -> ConsoleError:
    """What the agent reads: the status, a title and one sentence that says what to do."""
    if _out_of_range(exc):
        # a number past what a column holds, from a form or a query the handler did not bound
        return ConsoleError(400, "Not a valid value", "A number in this request is larger than anything stored. "
                                                      "Check the address or the form and try again.")
    if isinstance(exc, NotFoundException):
        detail = exc.detail if exc.detail and exc.detail != "Not Found" else "there is nothing at this address"
        return ConsoleError(404, "Not found", _sentence(detail))
    if isinstance(exc, PermissionDeniedException):
        if exc.detail == CSRF_FAILED:
            return ConsoleError(403, "Form expired", "This form belongs to an earlier sign-in or page load, so it was "
                                                     "not accepted and nothing changed. Reload the page and try again.")
        return ConsoleError(403, "Not allowed", _sentence(exc.detail))
    if isinstance(exc, NotAuthorizedException):
        return ConsoleError(401, "Signed out", "Your session has ended. Sign in again in a new tab, then try once "
                                               "more: what you typed here is kept.")
    if isinstance(exc, ValidationException):
        return ConsoleError(400, "Not a valid request", "Something in this address or form is not valid. "
                                                        "Check it and try again.")
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        return ConsoleError(exc.status_code, "Not possible", _sentence(exc.detail))
    if isinstance(exc, HTTPException) and exc.detail == CLIENT_GONE:
        # the browser left mid-upload (a closed tab's last presence beat): nothing broke here
        return ConsoleError(400, "Request cut off", "The browser stopped sending this request. Try again.")
    return ConsoleError(500, "Something went wrong", "The error was logged for the team that runs the helpdesk. "
                                                     "Try again, or reload the page.")


def _out_of_range(exc: BaseException | None) -> bool:
    """A number too large for its column: OverflowError from the driver (sqlite3; asyncpg's encoder,
    under SQLAlchemy's DBAPIError and asyncpg's DataError) or the server's own DataError."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, (OverflowError, DataError)):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")) if text else ""


def _sign_in_url(request: HTMXRequest) -> str:
    """The login page, returning to the page the agent is on (for htmx: the page, not the fragment)."""
    here = request.url.path
    if request.htmx and request.htmx.current_url:
        current = urlsplit(request.htmx.current_url)
        here = current.path + (f"?{current.query}" if current.query else "")
    if not here.startswith("/console") or here.startswith("/console/login"):
        here = "/console"
    return f"/console/login?next={quote(here, safe='/')}"


def console_error(request: HTMXRequest, exc: Exception) -> Response:
    """Every error under /console: a page (in the console layout for a signed-in agent), or for
    htmx the message in `#console-alert`. A 500 is logged with its traceback, never shown."""
    error = describe(exc)
    if error.status_code >= 500:
        log.exception("console error on %s %s", request.method, request.url.path, exc_info=exc)
    htmx = bool(request.htmx) and not request.htmx.history_restore_request
    if error.status_code == 401 and not htmx:
        return Redirect(_sign_in_url(request), headers=VARY)
    # htmx never leaves the page on a 401: a live update's re-fetch would take a draft with it
    agent = request.scope.get("state", {}).get("console_agent")
    context = {"error": error, "agent": agent, "sign_in_url": _sign_in_url(request) if error.status_code == 401 else None}
    if htmx:
        return HTMXTemplate(template_name="console/_error.html", context=context, status_code=error.status_code,
                            re_target="#console-alert", re_swap="outerHTML", push_url=False, headers=VARY)
    return Template("console/error.html" if agent else "console/error_plain.html", context=context,
                    status_code=error.status_code, headers=VARY)


def unknown_console_path(request: HTMXRequest, exc: HTTPException) -> Response:
    """An app-wide 404/405: the router's handlers never see a path no route matched."""
    if request.url.path == "/console" or request.url.path.startswith("/console/"):
        return console_error(request, exc)
    return Response({"status_code": exc.status_code, "detail": exc.detail}, status_code=exc.status_code)


# the router's handlers: every HTTP error (naming the app-wide keys, which would win otherwise) and,
# through the 500 key, any other exception
handlers = {key: console_error for key in (
    HTTPException, NotAuthorizedException, PermissionDeniedException, NotFoundException, MethodNotAllowedException,
    OverflowError, DBAPIError, HTTP_500_INTERNAL_SERVER_ERROR)}
