"""Contract tests generated from the OpenAPI schema at /schema (schemathesis): every /api/v1
operation, called with generated data against a live server on SQLite, answers as its schema says
and never with a server error. Examples are kept few so the test stays under a minute."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance, status_code_conformance

from helpdesk import db
from helpdesk.app import create_app
from helpdesk.inbound.ingest import ingest
from helpdesk.integrations import api_tokens
from helpdesk.settings import load_settings
from helpdesk.staff.agents import create_agent
from tests.conftest import free_port
from tests.factories import inbound

EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


async def _seed(settings) -> str:
    async with db.sessions(settings)() as session:
        agent = await create_agent(session, email="bot@shop.test", name="API Bot", role="admin", password="x" * 12)
        await ingest(session, inbound(sender="ann@example.com", subject="Where is my order?"), settings=settings)
        secret = (await api_tokens.create_token(session, "contract", ["read", "write"], agent_id=agent.id)).secret
    await db.dispose_sessions()
    return secret


@pytest.fixture(scope="module")
def live_api(tmp_path_factory):
    settings = load_settings({"HELPDESK_DATA_DIR": str(tmp_path_factory.mktemp("api-contract"))})
    app = create_app(settings, migrate=True)
    app.state.api_requests_per_minute = 1_000_000
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    token = asyncio.run(_seed(settings))
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(10)


def test_every_api_operation_answers_as_its_schema_says(live_api):
    base_url, token = live_api
    schema = schemathesis.openapi.from_url(f"{base_url}/schema/openapi.json").include(path_regex="^/api/v1/")
    headers = {"Authorization": f"Bearer {token}"}
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=EXAMPLES, deadline=None, database=None,
                             suppress_health_check=list(HealthCheck))
        def call(case):
            case.call_and_validate(base_url=base_url, headers=headers, checks=CHECKS)

        try:
            call()
        except BaseException as error:  # noqa: BLE001 - every operation is tried; all failures reported together
            failures.append(f"{operation.label}: {error}")
    assert operations >= 18
    assert not failures, "\n\n".join(failures)
