"""Settings from HELPDESK_* environment variables: the only place that reads the environment."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("var")
    database_url: str = ""  # empty: SQLite file in data_dir
    broker_url: str | None = None  # redis://... or amqp://...; None: in-process worker
    redis_url: str | None = None  # live updates and sessions across processes
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    mail_domain: str = "helpdesk.localhost"  # right-hand side of the Message-IDs we send
    reopen_window_days: int = 7
    auto_ack_limit_per_hour: int = 3
    outbox_max_attempts: int = 6
    outbox_stale_seconds: int = 60
    debug: bool = False
    metrics_token: str | None = None  # /metrics answers loopback clients, and others that send it as a bearer token
    # the platforms' API base URLs: an account's own `api_base_url` wins; tests and the demo point
    # these at a local server that behaves like the platform (channels/social/simulator/)
    meta_api_url: str = "https://graph.facebook.com/v21.0"
    telegram_api_url: str = "https://api.telegram.org"
    # free-mail domains an organization may not claim; None: helpdesk.customers.organizations.FREEMAIL_DOMAINS
    freemail_domains: tuple[str, ...] | None = None
    extra: dict = field(default_factory=dict)

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"

    @property
    def thumbnails_dir(self) -> Path:
        """Thumbnails of image attachments, made on first request (helpdesk/thumbnails.py); safe to delete."""
        return self.data_dir / "thumbs"

    @property
    def raw_dir(self) -> Path:
        """Every inbound payload as it arrived (an email's .eml, a webhook body), content-addressed."""
        return self.data_dir / "raw"

    @property
    def live_dir(self) -> Path:
        """Web processes' sockets for live events from the other processes, without Redis (helpdesk/live_relay.py)."""
        return self.data_dir / "live"

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "helpdesk.sqlite3"

    @property
    def async_database_url(self) -> str:
        """The URL with an async driver, whatever the operator wrote."""
        url = self.database_url or f"sqlite:///{self.sqlite_path.resolve()}"
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("postgresql+psycopg://", "postgresql+asyncpg://"),
            ("sqlite://", "sqlite+aiosqlite://"),
        ):
            if url.startswith(plain):
                return driver + url[len(plain):]
        return url

    @property
    def is_sqlite(self) -> bool:
        return self.async_database_url.startswith("sqlite")

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def _secret_key(data_dir: Path) -> str:
    """Generate a key on first run and keep it, so sessions survive restarts."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = os.environ if environ is None else environ
    data_dir = Path(env.get("HELPDESK_DATA_DIR", "var"))
    data_dir.mkdir(parents=True, exist_ok=True)
    return Settings(
        data_dir=data_dir,
        database_url=env.get("HELPDESK_DATABASE_URL", ""),
        broker_url=env.get("HELPDESK_BROKER_URL") or None,
        redis_url=env.get("HELPDESK_REDIS_URL") or None,
        secret_key=env.get("HELPDESK_SECRET_KEY") or _secret_key(data_dir),
        base_url=env.get("HELPDESK_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        mail_domain=env.get("HELPDESK_MAIL_DOMAIN", "helpdesk.localhost"),
        reopen_window_days=int(env.get("HELPDESK_REOPEN_WINDOW_DAYS", "7")),
        debug=env.get("HELPDESK_DEBUG", "") in ("1", "true", "yes"),
        metrics_token=env.get("HELPDESK_METRICS_TOKEN") or None,
        meta_api_url=env.get("HELPDESK_META_API_URL", Settings.meta_api_url).rstrip("/"),
        telegram_api_url=env.get("HELPDESK_TELEGRAM_API_URL", Settings.telegram_api_url).rstrip("/"),
        freemail_domains=tuple(env["HELPDESK_FREEMAIL_DOMAINS"].split(",")) if "HELPDESK_FREEMAIL_DOMAINS" in env else None,
    )
