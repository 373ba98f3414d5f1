"""Errors as RFC 9457 problem details (`application/problem+json`), mapped from exceptions in one place.

Domain errors carry the field they are about (`CustomerError.field`, `TicketError.field`, ...):
they become 422 with `errors: [{"field", "detail"}]`. A body the API cannot read at all (bad JSON,
a wrong type, an unknown field) is 400 with the same `errors` list.
"""
from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException, MethodNotAllowedException, NotAuthorizedException, NotFoundException, PermissionDeniedException,
    ValidationException,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from litestar.openapi.datastructures import ResponseSpec
from msgspec import Struct

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://helpdesk.invalid/problems/"  # a stable identifier per kind of problem (RFC 9457 §3.1.1)
TITLES = {400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Request too large", 415: "Unsupported media type", 422: "Unprocessable content",
          429: "Too many requests", 500: "Internal server error", 503: "Service unavailable"}
SLUGS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found", 405: "method-not-allowed",
         409: "conflict", 413: "too-large", 415: "unsupported-media-type", 422: "invalid-field",
         429: "rate-limited", 500: "server-error", 503: "unavailable"}


class FieldError(Struct):
    field: str | None
    detail: str


class ProblemOut(Struct):
    """RFC 9457 problem details, the body of every error."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


class Problem(Exception):
    """An API error with its status, a sentence for the person who can fix it, and field errors;
    extra members (a conflict's holder) go into the body as RFC 9457 allows."""

    def __init__(self, status: int, detail: str, *, errors: list[dict] | None = None,
                 headers: dict[str, str] | None = None, slug: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}
        self.slug, self.extra = slug, extra


def invalid(error: Exception) -> Problem:
    """A domain error (with `.field`) as 422."""
    field = getattr(error, "field", None)
    return Problem(422, str(error), errors=[{"field": field, "detail": str(error)}])


def not_found(what: str) -> Problem:
    return Problem(404, f"there is no such {what}")


def problem_response(status: int, detail: str, *, errors: list[dict] | None = None,
                     headers: dict[str, str] | None = None, slug: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {"type": TYPE_BASE + (slug or SLUGS.get(status, "error")),
                            "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extra)
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers or {})


def _from_problem(_request: Request, exc: Problem) -> Response:
    return problem_response(exc.status, exc.detail, errors=exc.errors, headers=exc.headers, slug=exc.slug, **exc.extra)


def _from_validation(_request: Request, exc: ValidationException) -> Response:
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            errors.append({"field": item.get("key"), "detail": str(item.get("message", ""))})
    return problem_response(400, str(exc.detail) or "the request could not be read", errors=errors or None)


def _from_http(_request: Request, exc: HTTPException) -> Response:
    headers = dict(exc.headers or {})
    return problem_response(exc.status_code, str(exc.detail), headers=headers)


def _from_anything(request: Request, exc: Exception) -> Response:
    log.exception("API request %s %s failed", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "something went wrong on our side; it has been logged")


# the app-wide keys are named again: the most specific class wins across layers, so they would otherwise
handlers = {Problem: _from_problem, ValidationException: _from_validation, HTTP_500_INTERNAL_SERVER_ERROR: _from_anything,
            **{key: _from_http for key in (HTTPException, NotAuthorizedException, PermissionDeniedException,
                                           NotFoundException, MethodNotAllowedException)}}

# for the OpenAPI schema: each route documents the problems it can answer
PROBLEM_DESCRIPTIONS = {
    400: "the request could not be read (bad JSON, a wrong type, an unknown field, a bad cursor)",
    401: "no token, or an unknown or revoked one",
    403: "the token lacks the scope this needs (GET needs read, changes need write)",
    404: "no such object",
    409: "the change conflicts with data another record holds",
    422: "a field's value is not acceptable; `errors` says which",
    429: "too many requests for this token; wait Retry-After seconds",
}


def documented(*statuses: int, also: dict[int, tuple[type, str]] | None = None) -> dict[int, ResponseSpec]:
    """A route's `responses`: the problems it can answer, for the OpenAPI schema (400, 401, 403 and
    429 come with every route), and `also` other successes ({status: (body type, description)})."""
    responses = {status: ResponseSpec(data_container=ProblemOut, description=PROBLEM_DESCRIPTIONS[status],
                                      media_type=MEDIA_TYPE)
                 for status in sorted({400, 401, 403, 429, *statuses})}
    for status, (body, description) in (also or {}).items():
        responses[status] = ResponseSpec(data_container=body, description=description)
    return responses
