"""Agent passwords: argon2id hashes, rehashed on login when the parameters change."""
from __future__ import annotations

import asyncio
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _unknown_account_hash() -> str:
    return _hasher.hash("no such account")


async def check_password(password_hash: str | None, password: str) -> bool:
    """`verify_password` off the event loop (argon2 takes ~0.1-0.25 s of CPU; other requests go on
    meanwhile). With no hash (no such account) it verifies against a dummy one: the same one argon2
    run either way, so the answer's timing does not tell whether an account exists."""
    return await asyncio.to_thread(verify_password, password_hash or _unknown_account_hash(), password)
