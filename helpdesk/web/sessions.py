"""Console sessions: Litestar's server-side sessions, with what a public helpdesk needs on top.

- An empty session is never stored: every anonymous request (the login page, /healthz, /static)
  used to write a session of its own that nothing ever removed.
- A session id the server never issued is not adopted (session fixation): a client that sends a
  made-up cookie gets a fresh server-made id once there is something to store.
- Signing in and a change of role get a fresh id (`renew_session`); the old one is deleted.
- Expired sessions are swept from the file store (`sweep_expired`); Redis expires its own.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.types import Empty, Message, ScopeSession

_KNOWN = "helpdesk.session_id"  # scope key: the id the request's session was loaded with, if the server knew it
_RENEW = "helpdesk.renew_session"


def renew_session(connection: ASGIConnection) -> None:
    """Store this request's session under a new id (after sign-in, after a change of role)."""
    connection.scope[_RENEW] = True  # type: ignore[literal-required]


class ConsoleSessionBackend(ServerSideSessionBackend):
    async def load_from_connection(self, connection: ASGIConnection) -> dict[str, Any]:
        if session_id := connection.cookies.get(self.config.key):
            data = await self.get(session_id, store=self.config.get_store_from_app(connection.scope["app"]))
            if data is not None:
                connection.scope[_KNOWN] = session_id  # type: ignore[literal-required]
                return self.deserialize_data(data)
        return {}

    def get_session_id(self, connection: ASGIConnection) -> str:
        known = connection.scope.get(_KNOWN)
        if known and not connection.scope.get(_RENEW):
            return known
        return self.generate_session_id()  # never the client's own choice

    async def store_in_message(self, scope_session: ScopeSession, message: Message,
                               connection: ASGIConnection) -> None:
        scope = connection.scope
        known = scope.get(_KNOWN)
        if scope_session is Empty or not scope_session:
            if known:  # signed out: Litestar's own path deletes it and clears the browser's cookie
                await super().store_in_message(Empty, message, connection)
            return
        if known and scope.get(_RENEW):
            await self.delete(known, store=self.config.get_store_from_app(scope["app"]))
        await super().store_in_message(scope_session, message, connection)


@dataclass
class ConsoleSessionConfig(ServerSideSessionConfig):
    _backend_class = ConsoleSessionBackend  # type: ignore[assignment]


async def sweep_expired(store: Store) -> None:
    """Delete expired sessions where the store keeps them until asked (the file store)."""
    delete_expired = getattr(store, "delete_expired", None)
    if delete_expired is not None:
        try:
            await delete_expired()
        except FileNotFoundError:  # no session was ever stored: nothing to sweep
            pass
