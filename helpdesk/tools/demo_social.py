"""The demo's social accounts: one per platform, with known test secrets (docs/social.md), sending to the
platform simulator that `helpdesk serve --demo` mounts at /demo/platforms, so `helpdesk simulate` can
message the shop and replies go out and come back delivered and read without any platform account.
The demo's seeded social conversations came in through these accounts. Never a real installation's."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from helpdesk.models import SocialAccount
from helpdesk.settings import Settings
from helpdesk.social.accounts import create_account, update_account

# Meta signs Messenger, Instagram and WhatsApp webhooks with one app's secret; Telegram sends the
# secret token given to setWebhook. Known on purpose: anyone trying the demo signs with them.
DEMO_APP_SECRET = "demo-meta-app-secret"
DEMO_VERIFY_TOKEN = "demo-verify-token"
DEMO_TELEGRAM_SECRET = "demo-telegram-secret-token"
DEMO_PLATFORMS_PATH = "/demo/platforms"
DEMO_WHATSAPP_CUSTOMER = "+4915112345678"  # the number the start-up line suggests to write from


@dataclass(frozen=True)
class DemoAccount:
    platform: str
    external_id: str
    name: str
    access_token: str
    app_secret: str | None
    verify_token: str
    options: dict = field(default_factory=dict)

    @property
    def webhook_secret(self) -> str:
        """What signs this account's webhooks: Meta's app secret, Telegram's secret token."""
        return self.app_secret or self.verify_token


DEMO_ACCOUNTS = {a.platform: a for a in (
    DemoAccount("messenger", "100000000000001", "Demo Tea Shop (Facebook page)", "demo-messenger-page-token",
                DEMO_APP_SECRET, DEMO_VERIFY_TOKEN),
    DemoAccount("instagram", "17841400000000001", "Demo Tea Shop (Instagram)", "demo-instagram-token",
                DEMO_APP_SECRET, DEMO_VERIFY_TOKEN, {"username": "demoteashop"}),
    DemoAccount("whatsapp", "100000000000002", "Demo Tea Shop WhatsApp", "demo-whatsapp-token",
                DEMO_APP_SECRET, DEMO_VERIFY_TOKEN,
                {"display_phone_number": "+49 30 12345678", "waba_id": "100000000000003"}),
    DemoAccount("telegram", "7000000001", "Demo Tea Shop bot", "7000000001:demo-telegram-bot-token",
                None, DEMO_TELEGRAM_SECRET, {"username": "demo_tea_shop_bot"}),
)}


def demo_user_id(platform: str, index: int) -> str:
    """A demo customer's user id on Messenger, Instagram or Telegram: numeric, as the platforms' are
    (a Telegram reply goes to the chat of that id)."""
    return str({"messenger": 24000000000000, "instagram": 17000000000000, "telegram": 500000000}[platform] + index)


def demo_thread(platform: str, customer: str) -> str:
    """The ticket's platform thread as the adapter's parser makes it: "<account id>:<customer's id>"."""
    return f"{DEMO_ACCOUNTS[platform].external_id}:{customer.lstrip('+')}"


async def seed_social_accounts(session, settings: Settings, api_base_url: str) -> None:
    """The demo accounts, sending to the simulator at `api_base_url`: added on the first run, pointed
    at the new address (another port) and switched on again on the next."""
    for account in DEMO_ACCOUNTS.values():
        secrets = {"access_token": account.access_token, "app_secret": account.app_secret,
                   "verify_token": account.verify_token}
        existing = await session.scalar(select(SocialAccount.id).where(
            SocialAccount.platform == account.platform, SocialAccount.external_id == account.external_id))
        if existing is None:
            await create_account(session, settings, platform=account.platform, external_id=account.external_id,
                                 name=account.name, api_base_url=api_base_url, options=account.options, **secrets)
        else:
            await update_account(session, settings, existing, api_base_url=api_base_url, active=True,
                                 options=account.options, **secrets)
