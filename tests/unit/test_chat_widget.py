"""The chat widget's build and its route: dist/ is the current source minified, small, and served cacheably."""
from __future__ import annotations

import re

import pytest
from litestar.testing import TestClient

from channels.chat.widget import build
from channels.chat.widget.route import widget_router
from helpdesk.app import create_app
from helpdesk.settings import Settings
from helpdesk.web.public import PublicEndpoints


def test_committed_dist_is_built_from_the_current_source():
    assert build.DIST.read_bytes() == build.build(build.SOURCE.read_text(encoding="utf-8")), \
        "run: python -m channels.chat.widget.build"


def test_build_is_reproducible_and_within_budget():
    source = build.SOURCE.read_text(encoding="utf-8")
    first, second = build.build(source), build.build(source)
    assert first == second
    assert build.gzipped_size(first) < build.BUDGET
    assert len(first) < len(source.encode()) * 0.8  # really minified


def test_source_never_parses_markup_or_evaluates_strings():
    source = build.SOURCE.read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", source, flags=re.S)  # what the comments say does not count
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                      "setAttribute(\"style\"", "cssText"):
        assert forbidden not in code, forbidden


@pytest.fixture
def client(tmp_path):
    public = PublicEndpoints()
    public.add_router(widget_router())
    public.add_router(widget_router())  # installed twice (serve, then its broker): mounted once
    with TestClient(create_app(Settings(data_dir=tmp_path, secret_key="test-secret"), public=public)) as client:
        yield client


def test_widget_js_is_served_as_javascript_with_an_etag_and_a_long_cache(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response.content == build.DIST.read_bytes()
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert "set-cookie" not in response.headers  # a shared cache may keep it
    etag = response.headers["etag"]

    assert client.get("/widget.js", headers={"If-None-Match": etag}).status_code == 304
    versioned = client.get(f"/widget.js?v={etag.strip(chr(34))}")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/widget.js?v=stale").headers["cache-control"] == "public, max-age=86400"
