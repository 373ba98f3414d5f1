"""Secrets at rest: readable with the instance secret that wrote them, and with no other."""
from __future__ import annotations

import pytest

from helpdesk import secrets
from helpdesk.settings import Settings


def test_a_secret_round_trips_and_is_not_stored_in_clear():
    settings = Settings(secret_key="instance-secret")
    stored = secrets.encrypt(settings, "shop-identity-secret")
    assert "shop-identity-secret" not in stored and stored != secrets.encrypt(settings, "shop-identity-secret")
    assert secrets.decrypt(settings, stored) == "shop-identity-secret"


def test_another_instance_secret_cannot_read_it():
    stored = secrets.encrypt(Settings(secret_key="instance-secret"), "shop-identity-secret")
    with pytest.raises(secrets.SecretUnreadable, match="HELPDESK_SECRET_KEY"):
        secrets.decrypt(Settings(secret_key="another-secret"), stored)
    with pytest.raises(secrets.SecretUnreadable):
        secrets.decrypt(Settings(secret_key="instance-secret"), "not-a-fernet-token")
