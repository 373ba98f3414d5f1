"""`helpdesk social accounts ...`, `helpdesk social whatsapp templates`, `helpdesk social telegram
set-webhook` and `helpdesk simulate`, run as a user runs them: in a subprocess, on SQLite, against the
platform simulator (a real HTTP server) where a platform is called."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from channels.social.simulator import running
from tests.integration.test_cli import helpdesk, sql_value

SECRETS = ("EAAG-page-token-1", "meta-app-secret-1", "verify-me-1")


@pytest.fixture
def env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELPDESK_")}
    env.update(HELPDESK_DATA_DIR=str(tmp_path / "var"), HELPDESK_DATABASE_URL=f"sqlite:///{tmp_path / 'social.sqlite3'}",
               HELPDESK_BASE_URL="https://help.example", PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return env


def stored_secrets(env: dict, account_id: int) -> dict:
    from sqlalchemy import select

    from helpdesk.models import SocialAccount
    from helpdesk.settings import load_settings
    from helpdesk.social.accounts import secrets_of
    from tests.conftest import run_sync

    async def load():
        from helpdesk import db

        settings = load_settings(env)
        try:
            async with db.sessions(settings)() as session:
                row = await session.scalar(select(SocialAccount).where(SocialAccount.id == account_id))
                found = secrets_of(row, settings)
                return {"access_token": found.access_token, "app_secret": found.app_secret,
                        "verify_token": found.verify_token, "name": row.name, "active": row.active,
                        "options": row.options, "api_base_url": row.api_base_url}
        finally:
            await db.dispose_sessions()

    return run_sync(load())


def test_add_takes_secrets_from_stdin_and_the_environment_and_list_never_prints_them(env, tmp_path):
    added = helpdesk(["social", "accounts", "add", "messenger", "--name", "Shop page", "--external-id", "1234567890",
                      "--access-token", "-", "--app-secret", "-", "--option", "username=teashop"],
                     {**env, "HELPDESK_SOCIAL_VERIFY_TOKEN": SECRETS[2]}, tmp_path, input=f"{SECRETS[0]}\n{SECRETS[1]}\n")
    assert added.returncode == 0, added.stderr
    assert "webhook URL: https://help.example/webhooks/messenger" in added.stdout
    stored = stored_secrets(env, 1)
    assert (stored["access_token"], stored["app_secret"], stored["verify_token"]) == SECRETS
    assert stored["options"] == {"username": "teashop"}

    listed = helpdesk(["social", "accounts", "list", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["platform"], row["external_id"], row["name"], row["active"]) == ("messenger", "1234567890",
                                                                                  "Shop page", True)
    assert row["secrets_set"] == {"access_token": True, "app_secret": True, "verify_token": True}
    table = helpdesk(["social", "accounts", "list"], env, tmp_path)
    assert "Shop page" in table.stdout and "https://help.example/webhooks/messenger" in table.stdout
    for output in (added.stdout + added.stderr, listed.stdout, table.stdout):
        assert not any(secret in output for secret in SECRETS)


def test_update_changes_only_what_is_given_and_deactivate_switches_the_account_off(env, tmp_path):
    added = helpdesk(["social", "accounts", "add", "telegram", "--name", "Bot", "--access-token", "123456:AAbot",
                      "--verify-token", "old-secret"], env, tmp_path)
    assert added.returncode == 0, added.stderr
    assert "helpdesk social telegram set-webhook 1" in added.stdout  # the next step, spelled out
    updated = helpdesk(["social", "accounts", "update", "1", "--name", "Tea bot", "--verify-token", "-"], env, tmp_path,
                       input="new-secret\n")
    assert updated.returncode == 0, updated.stderr
    stored = stored_secrets(env, 1)
    assert (stored["name"], stored["access_token"], stored["verify_token"]) == ("Tea bot", "123456:AAbot", "new-secret")
    assert "new-secret" not in updated.stdout + updated.stderr

    off = helpdesk(["social", "accounts", "deactivate", "1"], env, tmp_path)
    assert off.returncode == 0 and not stored_secrets(env, 1)["active"]
    on = helpdesk(["social", "accounts", "activate", "1"], env, tmp_path)
    assert on.returncode == 0 and stored_secrets(env, 1)["active"]


@pytest.mark.parametrize("args, message", [
    (["social", "accounts", "add", "whatsapp", "--name", "X", "--external-id", "1", "--access-token", "t",
      "--verify-token", "v"], "whatsapp needs app secret"),
    (["social", "accounts", "add", "telegram", "--name", "X", "--external-id", "5", "--access-token", "nocolon",
      "--verify-token", "v"], "a bot token looks like"),
    (["social", "accounts", "add", "messenger", "--name", "X", "--external-id", "1", "--option", "novalue"],
     "give it as key=value"),
    (["social", "accounts", "update", "7", "--name", "Y"], "no social account 7"),
    (["social", "accounts", "update", "7"], "nothing to change"),
    (["social", "accounts", "add", "telegram", "--name", "X", "--access-token", "-", "--verify-token", "v"],
     "standard input has no line for it"),
    (["simulate", "whatsapp", "--from", "+4915112345678", "--text", "Hi"], "no WhatsApp account"),
])
def test_bad_input_is_one_clear_line_and_no_traceback(env, tmp_path, args, message):
    failed = helpdesk(args, env, tmp_path, input="")
    assert failed.returncode == 1, failed.stdout
    assert message in failed.stderr and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1


def test_simulate_says_so_in_one_line_when_no_helpdesk_answers(env, tmp_path):
    from tests.conftest import free_port

    helpdesk(["social", "accounts", "add", "whatsapp", "--name", "Shop", "--external-id", "106540352242922",
              "--access-token", "t", "--app-secret", "s", "--verify-token", "v"], env, tmp_path)
    nowhere = {**env, "HELPDESK_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    failed = helpdesk(["simulate", "whatsapp", "--from", "+4915112345678", "--text", "Hi"], nowhere, tmp_path)
    assert failed.returncode == 1 and "cannot reach the helpdesk at" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_whatsapp_templates_lists_the_approved_ones_from_the_platform(env, tmp_path):
    with running() as (base, recorder):
        helpdesk(["social", "accounts", "add", "whatsapp", "--name", "Shop", "--external-id", "106540352242922",
                  "--access-token", "EAAG-token", "--app-secret", "s", "--verify-token", "v", "--api-base-url", base,
                  "--option", "waba_id=102290129340398"], env, tmp_path)
        listed = helpdesk(["social", "whatsapp", "templates", "1", "--json"], env, tmp_path)
    assert listed.returncode == 0, listed.stderr
    names = [t["name"] for t in json.loads(listed.stdout)]
    assert "order_update" in names and "spring_sale" not in names  # one still in review is not offered
    [call] = [r for r in recorder.requests if r.path.endswith("/message_templates")]
    assert "/102290129340398/" in call.path and call.headers["authorization"] == "Bearer EAAG-token"


def test_telegram_set_webhook_registers_our_url_and_the_secret_token(env, tmp_path):
    pytest.importorskip("channels.social.telegram").set_webhook  # noqa: B018 - the adapter provides it
    with running() as (base, recorder):
        helpdesk(["social", "accounts", "add", "telegram", "--name", "Bot", "--access-token", "123456:AAbot",
                  "--verify-token", "bot-secret", "--api-base-url", base], env, tmp_path)
        done = helpdesk(["social", "telegram", "set-webhook", "1"], env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "https://help.example/webhooks/telegram" in done.stdout and "bot-secret" not in done.stdout
    [call] = [r for r in recorder.requests if r.path.endswith("/setWebhook")]
    sent = call.json or call.form
    assert sent["url"] == "https://help.example/webhooks/telegram" and sent["secret_token"] == "bot-secret"
    assert sql_value(env, "SELECT count(*) FROM social_accounts") == 1
