"""The REST API's doors: tokens, scopes, revocation, rate limit, problem details, for every route."""
from __future__ import annotations

import pytest
from litestar.testing import AsyncTestClient

from helpdesk.integrations import api_tokens
from helpdesk.models import ApiToken
from tests.support.console import app, shop  # noqa: F401

# every /api/v1 route with a path that names real rows of the shop fixture and a harmless body
ROUTES = [
    ("GET", "/api/v1/customers", None),
    ("GET", "/api/v1/customers/{customer}", None),
    ("POST", "/api/v1/customers", {"identities": [{"kind": "email", "value": "new@example.com"}]}),
    ("PATCH", "/api/v1/customers/{customer}", {"notes": "via API"}),
    ("GET", "/api/v1/customers/{customer}/orders", None),
    ("POST", "/api/v1/customers/{customer}/identities", {"kind": "phone", "value": "+49 151 7654321"}),
    ("DELETE", "/api/v1/customers/{customer}/identities/999999", None),
    ("GET", "/api/v1/organizations", None),
    ("GET", "/api/v1/organizations/1", None),
    ("POST", "/api/v1/organizations", {"name": "Leaf & Kettle"}),
    ("PATCH", "/api/v1/organizations/1", {"name": "Leaf and Kettle"}),
    ("PUT", "/api/v1/orders/shop/1001", {"number": "#1001", "status": "paid", "currency": "EUR", "total": "9.90",
                                         "placed_at": "2026-11-30T10:00:00Z", "email": "ann@example.com"}),
    ("GET", "/api/v1/orders/1", None),
    ("GET", "/api/v1/tickets", None),
    ("GET", "/api/v1/tickets/{ticket}", None),
    ("POST", "/api/v1/tickets", {"subject": "Hi", "text": "Hello", "email": "ann@example.com"}),
    ("PATCH", "/api/v1/tickets/{ticket}", {"priority": "high"}),
    ("POST", "/api/v1/tickets/{ticket}/messages", {"kind": "note", "text": "seen"}),
]


@pytest.fixture
async def tokens(session, shop):
    made = {}
    for name, scopes in (("reader", ["read"]), ("writer", ["write"]), ("revoked", ["read", "write"])):
        made[name] = (await api_tokens.create_token(session, name, scopes, agent_id=shop.agents["admin"])).secret
    revoked = await api_tokens.find_token(session, made["revoked"][:api_tokens.PREFIX_LENGTH])
    await api_tokens.revoke_token(session, revoked)
    return made


@pytest.fixture
async def api(app, shop):
    async with AsyncTestClient(app=app) as client:
        yield client


def _path(template: str, shop) -> str:
    return template.format(customer=shop.customer_id, ticket=shop.ticket_ids[0])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"].startswith("https://")
    return body


@pytest.mark.parametrize("method, template, body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_every_route_wants_a_live_token_with_the_right_scope(api, shop, tokens, method, template, body):
    path = _path(template, shop)
    kwargs = {"json": body} if body is not None else {}
    assert_problem(await api.request(method, path, **kwargs), 401)
    assert_problem(await api.request(method, path, headers=bearer("hd_not-a-token"), **kwargs), 401)
    assert_problem(await api.request(method, path, headers=bearer(tokens["revoked"]), **kwargs), 401)
    answered = await api.request(method, path, headers=bearer(tokens["reader"]), **kwargs)
    if method == "GET":
        assert answered.status_code in (200, 404), answered.text
    else:
        assert_problem(answered, 403)
        done = await api.request(method, path, headers=bearer(tokens["writer"]), **kwargs)
        assert done.status_code < 500 and done.status_code not in (401, 403), done.text


async def test_a_read_token_cannot_post_a_message_and_nothing_is_stored(api, shop, tokens, session):
    from sqlalchemy import func, select

    from helpdesk.models import Message
    before = await session.scalar(select(func.count()).select_from(Message))
    for kind in ("reply", "note"):
        refused = await api.post(f"/api/v1/tickets/{shop.ticket_ids[0]}/messages", headers=bearer(tokens["reader"]),
                                 json={"kind": kind, "text": "sneaky"})
        assert_problem(refused, 403)
    assert await session.scalar(select(func.count()).select_from(Message)) == before


async def test_a_token_stops_working_the_moment_it_is_revoked(api, session, tokens):
    made = await api_tokens.create_token(session, "soon gone", ["read"])
    assert (await api.get("/api/v1/customers", headers=bearer(made.secret))).status_code == 200
    await api_tokens.revoke_token(session, made.token)
    assert_problem(await api.get("/api/v1/customers", headers=bearer(made.secret)), 401)


async def test_tokens_are_stored_hashed_and_last_use_is_noted(api, session, tokens):
    made = await api_tokens.create_token(session, "hashing", ["read"])
    stored = await session.get(ApiToken, made.token.id, populate_existing=True)
    assert stored.token_hash == api_tokens.token_hash(made.secret) and made.secret not in stored.token_hash
    assert stored.prefix == made.secret[:api_tokens.PREFIX_LENGTH] and stored.last_used_at is None
    await api.get("/api/v1/customers", headers=bearer(made.secret))
    first = (await session.get(ApiToken, made.token.id, populate_existing=True)).last_used_at
    await api.get("/api/v1/customers", headers=bearer(made.secret))
    assert first is not None
    assert (await session.get(ApiToken, made.token.id, populate_existing=True)).last_used_at == first  # once a minute


async def test_rate_limit_answers_429_with_retry_after(app, api, tokens):
    app.state.api_requests_per_minute = 3
    answers = [await api.get("/api/v1/customers", headers=bearer(tokens["reader"])) for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    body = assert_problem(answers[3], 429)
    assert int(answers[3].headers["Retry-After"]) >= 1 and "3 requests a minute" in body["detail"]
    # the limit is per token: another token still gets in
    assert (await api.get("/api/v1/customers", headers=bearer(tokens["writer"]))).status_code == 200


async def test_errors_are_problem_details_with_field_errors(api, shop, tokens):
    body = assert_problem(await api.get("/api/v1/customers/999999", headers=bearer(tokens["reader"])), 404)
    assert "customer" in body["detail"]
    bad = assert_problem(await api.post("/api/v1/customers", headers=bearer(tokens["writer"]),
                                        json={"identities": [{"kind": "email", "value": "x"}], "bogus": 1}), 400)
    assert bad["errors"]
    unreadable = assert_problem(await api.post("/api/v1/customers", headers=bearer(tokens["writer"]),
                                               json={"identities": [{"kind": "phone", "value": "no digits"}]}), 422)
    assert unreadable["errors"][0]["field"] == "identities[0].value"
    assert_problem(await api.get("/api/v1/customers?cursor=garbage", headers=bearer(tokens["reader"])), 400)
