"""`/metrics` for Prometheus, and only for it: loopback clients, or a bearer token
(`HELPDESK_METRICS_TOKEN`) for a scraper on another host. Request counts and paths say too much
about a helpdesk to be public."""
from __future__ import annotations

import hmac
import ipaddress

from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.plugins.prometheus import PrometheusController


def _loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def may_scrape(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    token = connection.app.state.settings.metrics_token
    given = connection.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return
    if _loopback(connection.client.host if connection.client else None):
        return
    raise PermissionDeniedException("/metrics is served to loopback, or with HELPDESK_METRICS_TOKEN as a bearer token")


class MetricsController(PrometheusController):
    guards = [may_scrape]
    include_in_schema = False
