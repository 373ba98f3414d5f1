"""Declarative base shared by every aggregate."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase


# Row ids are INTEGER: 32 bits on PostgreSQL. A larger number from a URL or a form names no row,
# and must be answered as such before it reaches the database (which would fail on it).
MAX_ID = 2**31 - 1
MAX_BIGINT = 2**63 - 1  # BIGINT columns (a ticket's number)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def parse_id(text: str | None, *, limit: int = MAX_ID) -> int | None:
    """A row id typed or posted as text, or None when it is not a number or cannot be a row's id."""
    text = (text or "").strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= limit else None


class UTCDateTime(TypeDecorator):
    """Stores timezone-aware UTC; SQLite hands back naive values, so we re-attach UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime: pass a timezone-aware UTC value")
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON, list: JSON}
