"""Small secrets at rest (a chat channel's identity secret), encrypted with a key derived from the
instance secret (`HELPDESK_SECRET_KEY`), so a copy of the database alone does not give them away.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) with its key made by HKDF-SHA256 from the
instance secret: a secret of any length gives a full-strength key, and the `info` label keeps this
key apart from every other use of the instance secret (sessions, CSRF, chat visitor tokens).
"""
from __future__ import annotations

import base64
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from helpdesk.settings import Settings

_LABEL = b"helpdesk: secrets at rest, v1"


class SecretUnreadable(ValueError):
    """A stored secret that this instance's key cannot open (the instance secret changed, or the
    value was not written by `encrypt`)."""


@lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    if not secret_key:
        raise ValueError("the instance secret (HELPDESK_SECRET_KEY) is empty: nothing to derive a key from")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt(settings: Settings, plain: str) -> str:
    return _fernet(settings.secret_key).encrypt(plain.encode()).decode("ascii")


def decrypt(settings: Settings, stored: str) -> str:
    try:
        return _fernet(settings.secret_key).decrypt(stored.encode("ascii")).decode()
    except (InvalidToken, UnicodeError) as error:
        raise SecretUnreadable("the stored secret cannot be decrypted with this instance's secret key "
                               "(was HELPDESK_SECRET_KEY changed?)") from error
