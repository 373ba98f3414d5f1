"""CLI for the social channels (docs/social.md): `helpdesk social accounts list|add|update|activate|
deactivate`, `helpdesk social telegram set-webhook`, `helpdesk social whatsapp templates`, and
`helpdesk simulate`, which posts a signed webhook to a running helpdesk as the platform would.

Secrets are never printed. On the command line a secret lands in the shell's history, so each secret
option also takes `-`: read from standard input (one line per `-`, in the order access token, app
secret, verify token) or, at a terminal, from a prompt that hides what is typed; `add` also reads
HELPDESK_SOCIAL_ACCESS_TOKEN, HELPDESK_SOCIAL_APP_SECRET and HELPDESK_SOCIAL_VERIFY_TOKEN."""
from __future__ import annotations

import json
import secrets as random_secrets
import sys

import click
from rich.console import Console
from rich.table import Table

from helpdesk.cli import CliError, run, settings_of, with_database
from helpdesk.models import SocialAccount
from helpdesk.settings import Settings
from helpdesk.social import accounts as social
from helpdesk.social.accounts import PLATFORM_NAMES, PLATFORMS, SECRET_FIELDS, AccountInvalid, AccountSecrets

out = Console()
err = Console(stderr=True)
SECRET_LABELS = {"access_token": "access token", "app_secret": "app secret", "verify_token": "verify token"}


def register(cli: click.Group) -> None:
    cli.add_command(social_group)
    cli.add_command(simulate)


@click.group("social")
def social_group() -> None:
    """Social channels: Messenger, Instagram, WhatsApp and Telegram accounts (docs/social.md)."""


@social_group.group("accounts")
def accounts() -> None:
    """The pages, Instagram accounts, WhatsApp numbers and bots customers message."""


def _secret_options(from_environment: bool):
    """--access-token, --app-secret, --verify-token: a value, or `-` for standard input / a hidden prompt."""
    def apply(command):
        for name in reversed(SECRET_FIELDS):
            flag = "--" + name.replace("_", "-")
            envvar = f"HELPDESK_SOCIAL_{name.upper()}" if from_environment else None
            command = click.option(flag, name, envvar=envvar, show_envvar=from_environment, metavar="SECRET|-",
                                   help=f"The {SECRET_LABELS[name]}; '-' reads it from standard input or a "
                                        f"hidden prompt.")(command)
        return command
    return apply


def _read_secret(name: str, value: str | None) -> str | None:
    if value != "-":
        return value
    label = SECRET_LABELS[name].capitalize()
    if sys.stdin.isatty():
        return click.prompt(label, hide_input=True)
    line = sys.stdin.readline()
    if not line.strip():
        raise CliError(f"{label}: '-' was given, but standard input has no line for it")
    return line.rstrip("\r\n")


def _options(given: tuple[str, ...]) -> dict[str, str]:
    options = {}
    for item in given:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise CliError(f"--option {item!r}: give it as key=value, e.g. --option waba_id=102290129340398")
        options[key.strip()] = value.strip()
    return options


def describe(account: SocialAccount, settings: Settings) -> dict:
    """An account as `list` shows it: whether each secret is set, never what it is."""
    return {"id": account.id, "platform": account.platform, "name": account.name, "external_id": account.external_id,
            "active": account.active, "webhook_url": f"{settings.base_url}/webhooks/{account.platform}",
            "secrets_set": {name: bool(getattr(account, name)) for name in SECRET_FIELDS},
            "api_base_url": account.api_base_url, "options": account.options or {},
            "last_webhook_at": account.last_webhook_at.isoformat() if account.last_webhook_at else None,
            "last_error": account.last_error}


async def _account(session, account_id: int) -> SocialAccount:
    found = await session.get(SocialAccount, account_id)
    if found is None:
        raise CliError(f"no social account {account_id}; see `helpdesk social accounts list`")
    return found


@accounts.command("list")
@click.option("--platform", type=click.Choice(PLATFORMS))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def accounts_list(ctx: click.Context, platform: str | None, as_json: bool) -> None:
    """List the accounts and which secrets each has set (never the secrets)."""
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            return [describe(a, settings) for a in await social.list_accounts(session, platform)]

    rows = run(with_database(settings, work))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table("id", "platform", "name", "account id", "secrets set", "state", "last webhook")
    for row in rows:
        table.add_row(str(row["id"]), PLATFORM_NAMES[row["platform"]], row["name"], row["external_id"],
                      _secrets_set(row), "active" if row["active"] else "off",
                      row["last_error"] or row["last_webhook_at"] or "none yet")
    out.print(table)
    for platform in dict.fromkeys(row["platform"] for row in rows):
        click.echo(f"{PLATFORM_NAMES[platform]} webhook URL: {settings.base_url}/webhooks/{platform}")


def _secrets_set(row: dict) -> str:
    """"token ✓ secret ✓ verify –": the secrets the platform uses, and whether each is set."""
    used = [n for n in SECRET_FIELDS if row["secrets_set"][n] or n in social.REQUIRED[row["platform"]]]
    short = {"access_token": "token", "app_secret": "secret", "verify_token": "verify"}
    return " ".join(f"{short[n]} {'✓' if row['secrets_set'][n] else '–'}" for n in used)


@accounts.command("add")
@click.argument("platform", type=click.Choice(PLATFORMS))
@click.option("--name", required=True, help="What agents see.")
@click.option("--external-id", default="", help="The platform's id: page id, Instagram account id, phone number id, "
                                                 "bot id (Telegram: taken from the token when left out).")
@_secret_options(from_environment=True)
@click.option("--api-base-url", help="The platform's API base URL (default: the platform's own).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An option, e.g. waba_id=… (WhatsApp templates), display_phone_number=…, username=…; repeatable.")
@click.pass_context
def accounts_add(ctx: click.Context, platform: str, name: str, external_id: str, api_base_url: str | None,
                 options: tuple[str, ...], **given_secrets) -> None:
    """Add an account of PLATFORM; prints its id and the webhook URL to give the platform."""
    settings = settings_of(ctx)
    values = {name_: _read_secret(name_, given_secrets[name_]) for name_ in SECRET_FIELDS}
    extra = _options(options)

    async def work(sessions):
        async with sessions() as session:
            try:
                made = await social.create_account(session, settings, platform=platform, external_id=external_id,
                                                   name=name, api_base_url=api_base_url, options=extra, **values)
            except AccountInvalid as error:
                raise CliError(str(error)) from None
            return describe(made, settings)

    row = run(with_database(settings, work))
    err.print(f"added {PLATFORM_NAMES[platform]} account {row['id']} ({row['name']}, id {row['external_id']})")
    click.echo(f"webhook URL: {row['webhook_url']}")
    if platform == "telegram":
        click.echo(f"next: helpdesk social telegram set-webhook {row['id']}")


@accounts.command("update")
@click.argument("account_id", type=int)
@click.option("--name")
@_secret_options(from_environment=False)
@click.option("--api-base-url", help="'' goes back to the platform's own.")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE", help="Set an option; repeatable.")
@click.option("--active/--inactive", default=None, help="An inactive account's webhooks are refused.")
@click.pass_context
def accounts_update(ctx: click.Context, account_id: int, name: str | None, api_base_url: str | None,
                    options: tuple[str, ...], active: bool | None, **given_secrets) -> None:
    """Change account ACCOUNT_ID; only what is given changes (a secret left out is kept)."""
    values = {n: _read_secret(n, given_secrets[n]) for n in SECRET_FIELDS if given_secrets[n] is not None}
    changes = {k: v for k, v in {"name": name, "api_base_url": api_base_url, "active": active,
                                  "options": _options(options) or None}.items() if v is not None}
    if not values and not changes:
        raise CliError("nothing to change: give at least one option (see --help)")
    _update(ctx, account_id, "updated", changes=changes, values=values)


@accounts.command("deactivate")
@click.argument("account_id", type=int)
@click.pass_context
def accounts_deactivate(ctx: click.Context, account_id: int) -> None:
    """Switch account ACCOUNT_ID off: its webhooks are refused, nothing goes out through it; tickets stay."""
    _update(ctx, account_id, "deactivated", changes={"active": False})


@accounts.command("activate")
@click.argument("account_id", type=int)
@click.pass_context
def accounts_activate(ctx: click.Context, account_id: int) -> None:
    """Switch account ACCOUNT_ID on again."""
    _update(ctx, account_id, "activated", changes={"active": True})


def _update(ctx: click.Context, account_id: int, done: str, *, changes: dict, values: dict | None = None) -> None:
    settings = settings_of(ctx)

    async def work(sessions):
        async with sessions() as session:
            await _account(session, account_id)
            try:
                row = await social.update_account(session, settings, account_id, **changes, **(values or {}))
            except AccountInvalid as error:
                raise CliError(str(error)) from None
            return describe(row, settings)

    row = run(with_database(settings, work))
    changed = sorted([*changes, *(values or {})])
    err.print(f"{done} {PLATFORM_NAMES[row['platform']]} account {row['id']} ({row['name']})"
              + (f": {', '.join(changed)}" if done == "updated" else ""))


async def _secrets(settings: Settings, account_id: int, platform: str) -> AccountSecrets:
    async def work(sessions):
        async with sessions() as session:
            row = await _account(session, account_id)
            if row.platform != platform:
                raise CliError(f"account {account_id} is a {PLATFORM_NAMES[row.platform]} account, "
                               f"not {PLATFORM_NAMES[platform]}")
            return social.secrets_of(row, settings)

    return await with_database(settings, work)


@social_group.group("telegram")
def telegram_group() -> None:
    """Telegram bots."""


@telegram_group.command("set-webhook")
@click.argument("account_id", type=int)
@click.option("--url", help="Where Telegram posts updates (default: HELPDESK_BASE_URL/webhooks/telegram).")
@click.pass_context
def telegram_set_webhook(ctx: click.Context, account_id: int, url: str | None) -> None:
    """Tell Telegram to post the bot's updates here, with the account's secret token (setWebhook)."""
    from channels.social import telegram
    from helpdesk.channel import DeliveryError

    settings = settings_of(ctx)
    url = url or f"{settings.base_url}/webhooks/telegram"

    async def work():
        account = await _secrets(settings, account_id, "telegram")
        try:
            await telegram.set_webhook(account, url)
        except DeliveryError as error:
            raise CliError(f"Telegram refused setWebhook: {error}") from None

    run(work())
    click.echo(f"Telegram posts the bot's updates to {url} now, with its secret token")


@social_group.group("whatsapp")
def whatsapp_group() -> None:
    """WhatsApp numbers."""


@whatsapp_group.command("templates")
@click.argument("account_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def whatsapp_templates(ctx: click.Context, account_id: int, as_json: bool) -> None:
    """The approved message templates of a WhatsApp account (needs its waba_id option)."""
    from channels.social import whatsapp
    from helpdesk.channel import DeliveryError

    settings = settings_of(ctx)

    async def work():
        account = await _secrets(settings, account_id, "whatsapp")
        try:
            return await whatsapp.list_templates(account)
        except DeliveryError as error:
            raise CliError(str(error)) from None

    found = run(work())
    if as_json:
        click.echo(json.dumps([{"name": t.name, "language": t.language, "category": t.category, "body": t.body,
                                "parameters": t.parameters} for t in found], indent=2))
        return
    table = Table("name", "language", "category", "parameters", "body")
    for template in found:
        table.add_row(template.name, template.language, template.category or "", str(template.parameters),
                      template.body)
    out.print(table)


# -- helpdesk simulate -------------------------------------------------------------------------------

@click.command()
@click.argument("platform", type=click.Choice(PLATFORMS))
@click.option("--from", "sender", required=True, help="The customer: a phone number (WhatsApp), a user id.")
@click.option("--text", required=True)
@click.option("--name", help="The customer's profile name.")
@click.option("--account", "external_id", help="The account's platform id (default: the platform's only active one).")
@click.option("--bad-signature", is_flag=True, help="Sign with a wrong secret: the helpdesk must refuse it (401).")
@click.pass_context
def simulate(ctx: click.Context, platform: str, sender: str, text: str, name: str | None, external_id: str | None,
             bad_signature: bool) -> None:
    """Post a customer's message to the running helpdesk (HELPDESK_BASE_URL) as PLATFORM would:
    the platform's webhook body, signed with the account's secret from the database."""
    import httpx

    from channels.social.simulator import module_for

    settings = settings_of(ctx)
    account = run(with_database(settings, lambda sessions: _simulated_account(sessions, settings, platform,
                                                                               external_id)))
    secret = account.verify_token if platform == "telegram" else account.app_secret
    if bad_signature:
        secret = random_secrets.token_hex(16)  # any secret but the account's
    simulator = module_for(platform)
    body = simulator.inbound_body(platform, account.external_id, sender, text, name=name)
    url = f"{settings.base_url}/webhooks/{platform}"
    try:
        answer = httpx.post(url, content=body, headers=simulator.signed_headers(platform, body, secret), timeout=30)
    except httpx.HTTPError as error:
        raise CliError(f"cannot reach the helpdesk at {url} ({error or type(error).__name__}): is it running? "
                       f"HELPDESK_BASE_URL says where") from None
    click.echo(f"{PLATFORM_NAMES[platform]} webhook to {url} ({account.name}): "
               f"{answer.status_code} {answer.reason_phrase}")
    if answer.text:
        click.echo(answer.text)
    if bad_signature:
        if answer.status_code in (401, 403):
            click.echo("the helpdesk refused the wrongly signed webhook, as it should")
            return
        raise CliError(f"the helpdesk answered {answer.status_code} to a wrongly signed webhook: it should refuse it "
                       f"with 401")
    if not answer.is_success:
        ctx.exit(1)


async def _simulated_account(sessions, settings: Settings, platform: str, external_id: str | None) -> AccountSecrets:
    async with sessions() as session:
        row = await social.find_account(session, platform, external_id)
        if row is None:
            which = f"with id {external_id}" if external_id else "that is the only active one (give --account)"
            raise CliError(f"no {PLATFORM_NAMES[platform]} account {which}; see `helpdesk social accounts list`")
        account = social.secrets_of(row, settings)
    needed = "verify_token" if platform == "telegram" else "app_secret"
    if not getattr(account, needed):
        raise CliError(f"account {account.id} has no {SECRET_LABELS[needed]} to sign with")
    return account
