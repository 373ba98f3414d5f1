"""`helpdesk chat channels list|add|edit|rotate-secret`, run as a user runs it: in a subprocess, on SQLite."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.integration.test_cli import helpdesk, sql_value


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'chat.sqlite3'}",
               HELPDESK_BASE_URL="https://help.example", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env


def secret_of(output: str) -> str:
    return re.search(r"identity secret \(shown once\): ([0-9a-f]{64})", output).group(1)


def stored_secret(env: dict, key: str) -> str:
    from helpdesk import secrets
    from helpdesk.settings import load_settings

    stored = sql_value(env, f"SELECT identity_secret FROM chat_channels WHERE key = '{key}'")
    return secrets.decrypt(load_settings(env), stored)


def test_add_prints_the_secret_once_and_the_snippet_and_list_never_shows_it(env, tmp_path):
    added = helpdesk(["chat", "channels", "add", "--name", "Shop chat", "--key", "shop", "--origin", "https://Shop.example/",
                      "--origin", "https://shop.example:8443", "--prechat", "name", "--enforce-verification"], env, tmp_path)
    assert added.returncode == 0, added.stderr
    secret = secret_of(added.stdout)
    assert stored_secret(env, "shop") == secret
    assert '<script src="https://help.example/widget.js" data-channel="shop" async></script>' in added.stdout

    listed = helpdesk(["chat", "channels", "list", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["key"], row["allowed_origins"], row["prechat_fields"], row["enforce_verification"]) == (
        "shop", ["https://shop.example", "https://shop.example:8443"], ["name"], True)
    assert secret not in listed.stdout
    table = helpdesk(["chat", "channels", "list"], env, tmp_path)
    assert "shop" in table.stdout and secret not in table.stdout


def test_edit_changes_only_what_is_given_and_rotate_prints_a_new_secret(env, tmp_path):
    added = helpdesk(["chat", "channels", "add", "--name", "Shop chat", "--key", "shop", "--origin", "https://a.example"],
                     env, tmp_path)
    old = secret_of(added.stdout)
    edited = helpdesk(["chat", "channels", "edit", "shop", "--greeting", "Hej!", "--no-enforce-verification",
                       "--inactive"], env, tmp_path)
    assert edited.returncode == 0, edited.stderr
    assert sql_value(env, "SELECT greeting FROM chat_channels") == "Hej!"
    assert sql_value(env, "SELECT allowed_origins FROM chat_channels") in ('["https://a.example"]', ["https://a.example"])
    assert not sql_value(env, "SELECT active FROM chat_channels")

    rotated = helpdesk(["chat", "channels", "rotate-secret", "shop"], env, tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    new = rotated.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", new) and new != old and stored_secret(env, "shop") == new


@pytest.mark.parametrize("args, message", [
    (["add", "--name", "X", "--origin", "shop.example"], "not an origin"),
    (["add", "--name", "X", "--origin", "https://*.example"], "no wildcards"),
    (["add", "--name", "X", "--prechat", "name,phone"], "pre-chat fields are a choice of name, email"),
    (["add", "--name", "X", "--team", "Nobody"], "no team named 'Nobody'"),
    (["add", "--name", "X", "--calendar", "Mars"], "no business calendar named 'Mars'"),
    (["add", "--name", "X", "--colour", "red"], "a colour as #rrggbb"),
    (["edit", "nope", "--name", "Y"], "no chat channel 'nope'"),
    (["rotate-secret", "nope"], "no chat channel 'nope'"),
])
def test_bad_input_is_one_clear_line_and_no_traceback(env, tmp_path, args, message):
    failed = helpdesk(["chat", "channels", *args], env, tmp_path)
    assert failed.returncode == 1, failed.stdout
    assert message in failed.stderr and "Traceback" not in failed.stderr
