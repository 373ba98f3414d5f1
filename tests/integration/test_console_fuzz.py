"""Every console route's path, query and form parameters, fuzzed (hypothesis): no input a client
can send makes a 500. Bad input is a 4xx with a message; the routes are found from the app itself,
so a new route is fuzzed the day it is added.

As an admin (every route is open to one), on SQLite and PostgreSQL: PostgreSQL is the stricter one
(32-bit ids, no NUL in text)."""
from __future__ import annotations

import dataclasses
import os
import typing
from collections import Counter
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from litestar.enums import RequestEncodingType
from litestar.response import ServerSentEvent
from litestar.testing import TestClient

from helpdesk.app import create_app
from helpdesk.db import make_engine, make_session_factory
from helpdesk.settings import Settings
from tests.conftest import run_sync
from tests.support.console import PASSWORD, build_shop, csrf_from

EXAMPLES = int(os.environ.get("HELPDESK_FUZZ_EXAMPLES", "15"))
# not fuzzed here: signing in and out (the throttle would lock the fuzzing admin out; tests of their
# own cover them), and the live streams (any handler answering server-sent events), which never end
SKIP = ("/console/login", "/console/logout")
NOT_INPUT = {"db", "agent", "request", "self", "settings", "data", "state", "scope", "channels", "socket"}

NASTY = ["", "0", "-1", "1", "2", "3", "me", "none", "99999999999999999999", str(2**31), str(2**63), str(2**64),
         "²", "١٢", "1.5", " 1 ", "#1", "#99999999999999999999", "null", "<script>alert(1)</script>", "a" * 5000,
         "x\x00y", "💥", "open", "solved", "urgent", "reply", "note", "2026-13-45T25:61", "2030-01-01T09:00",
         "1,2,3", "../../etc/passwd", "%", "'; DROP TABLE tickets; --"]
text_values = st.one_of(st.sampled_from(NASTY), st.text(max_size=40),
                        st.integers(min_value=-(2**70), max_value=2**70).map(str))
id_values = st.one_of(st.sampled_from(["1", "2", "3", "0", "99999999999999999999", str(2**31), str(2**31 - 1),
                                       str(2**63), str(2**64)]),
                      st.integers(min_value=0, max_value=2**70).map(str))


@dataclasses.dataclass
class Route:
    method: str
    path: str  # Litestar's, with {name:type} placeholders
    path_params: dict[str, type]
    query: list[str]
    form: list[str]
    multipart: bool

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def console_routes(app) -> list[Route]:
    routes = []
    for route in app.routes:
        if not route.path.startswith("/console") or route.path.startswith(SKIP):
            continue
        for handler in getattr(route, "route_handlers", []):
            if handler.parsed_fn_signature.return_type.annotation is ServerSentEvent:
                continue
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                parameters = handler.parsed_fn_signature.parameters
                path_params = {p.name: p.type for p in route.path_parameters.values()}
                query = [n for n in parameters if n not in NOT_INPUT and n not in path_params]
                form, multipart = [], False
                if "data" in parameters:
                    data = parameters["data"]
                    annotation = data.annotation
                    if dataclasses.is_dataclass(annotation):
                        form = [f.name for f in dataclasses.fields(annotation)]
                    multipart = getattr(data.kwarg_definition, "media_type", None) == RequestEncodingType.MULTI_PART
                routes.append(Route(method, route.path, path_params, query, form, multipart))
    return routes


def concrete_path(route: Route, values: dict[str, str]) -> str:
    path = route.path
    for name, kind in route.path_params.items():
        placeholder = f"{{{name}:{'int' if kind is int else 'str'}}}"
        path = path.replace(placeholder, quote(values[name], safe=""))
    return path


@pytest.fixture
def fuzz_app(settings):
    async def seed() -> None:
        engine = make_engine(settings)
        async with make_session_factory(engine)() as session:
            await build_shop(session, settings)
        await engine.dispose()

    run_sync(seed())
    return create_app(settings)


def signed_in_admin(app) -> TestClient:
    client = TestClient(app=app)
    client.__enter__()
    page = client.get("/console/login")
    response = client.post("/console/login", data={"email": "admin@shop.test", "password": PASSWORD,
                                                    "_csrf_token": csrf_from(page.text), "next": "/console"},
                           follow_redirects=False)
    assert response.status_code in (302, 303), response.text
    return client


def test_no_console_input_makes_a_server_error(fuzz_app):
    routes = console_routes(fuzz_app)
    assert len(routes) > 40  # the console's routes were found, not an empty list that passes
    failures: list[str] = []
    answers: Counter[int] = Counter()
    for route in routes:
        client = signed_in_admin(fuzz_app)  # a fresh admin: a fuzzed form may deactivate the last one
        try:
            fuzz_route(client, route, failures, answers)
        finally:
            client.__exit__(None, None, None)
    assert not failures, "\n".join(failures)
    # the input reached the handlers: some of it was accepted, some refused with a 4xx
    assert answers[2] + answers[3] > len(routes) and answers[4] > len(routes), answers


def fuzz_route(client: TestClient, route: Route, failures: list[str], answers: Counter[int]) -> None:
    token = client.cookies.get("helpdesk_csrf")

    @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                         suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one_request(data: st.DataObject) -> None:
        path_values = {name: data.draw(id_values if kind is int else text_values, label=name)
                       for name, kind in route.path_params.items()}
        path = concrete_path(route, path_values)
        query = {name: data.draw(text_values, label=name) for name in route.query if data.draw(st.booleans())}
        headers = {"x-csrftoken": token}
        if data.draw(st.booleans(), label="htmx"):
            headers["HX-Request"] = "true"
        if route.method == "GET":
            response = client.get(path, params=query, headers=headers, follow_redirects=False)
        else:
            fields: dict[str, typing.Any] = {}
            for name in route.form:
                if data.draw(st.booleans()):
                    fields[name] = data.draw(st.one_of(text_values, st.lists(text_values, min_size=2, max_size=3)),
                                             label=name)
            files = {"_": ("", b"", "application/octet-stream")} if route.multipart else None
            response = client.post(path, params=query, data=fields, files=files, headers=headers,
                                   follow_redirects=False)
        answers[response.status_code // 100] += 1
        if response.status_code >= 500:
            failures.append(f"{route}: {response.status_code} for {path} query={query!r} "
                            f"form={locals().get('fields')!r}"[:600])

    one_request()
