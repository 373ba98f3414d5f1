"""Failed sign-ins are throttled per account and per client address, so passwords cannot be
guessed at speed. Counts live in the app's "throttle" store (memory, or Redis when several web
processes run), each expiring a window after the first failure."""
from __future__ import annotations

from dataclasses import dataclass

from litestar.stores.base import Store

WINDOW_SECONDS = 15 * 60
PER_ACCOUNT = 5  # failures per account per window
PER_ADDRESS = 20  # failures per client address per window (several agents may share an office's address)


@dataclass(frozen=True)
class SignInThrottle:
    store: Store

    def _keys(self, email: str, address: str | None) -> list[tuple[str, int]]:
        return [(f"account:{email.strip().lower()}", PER_ACCOUNT), (f"address:{address or '?'}", PER_ADDRESS)]

    async def blocked(self, email: str, address: str | None) -> bool:
        """Whether this attempt is refused before its password is even checked (same answer for
        accounts that exist and accounts that do not)."""
        for key, limit in self._keys(email, address):
            count = await self.store.get(key)
            if count is not None and int(count) >= limit:
                return True
        return False

    async def failed(self, email: str, address: str | None) -> None:
        for key, _ in self._keys(email, address):
            await hit(self.store, key, WINDOW_SECONDS)

    async def succeeded(self, email: str) -> None:
        await self.store.delete(f"account:{email.strip().lower()}")


async def hit(store: Store, key: str, window: int) -> int:
    """Count one more event under `key` in a window of `window` seconds from its first; returns the
    count so far. (Read then write: across processes a burst may count one or two short, which a
    limit can live with; the stores have no atomic increment.)"""
    count = await store.get(key)
    if count is None:
        await store.set(key, b"1", expires_in=window)
        return 1
    ttl = await store.expires_in(key)
    count = int(count) + 1
    await store.set(key, str(count).encode(), expires_in=ttl or window)
    return count
