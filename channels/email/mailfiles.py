"""Mail from files: .eml files, mbox files and Maildir folders, in the order it was written."""
from __future__ import annotations

import mailbox
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class MailFile:
    """One message found on disk; its bytes are read only when needed."""

    label: str  # where it came from, for progress and error messages
    date: datetime
    load: Callable[[], bytes]


def find_mail(paths: Iterable[Path]) -> list[MailFile]:
    """Every message under `paths`, sorted by its Date header (undated ones first, in file order)."""
    found: list[MailFile] = []
    for path in paths:
        path = Path(path)
        if path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir():
            found.extend(_maildir(path))
        elif path.is_dir():
            for child in sorted(path.rglob("*.eml")):
                found.append(_eml(child))
        elif _is_mbox(path):
            found.extend(_mbox(path))
        elif path.is_file():
            found.append(_eml(path))
        else:
            raise FileNotFoundError(f"no mail file or Maildir at {path}")
    # sorted() is stable: messages with equal or missing dates keep their file order
    return sorted(found, key=lambda m: m.date)


def _is_mbox(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(5) == b"From "


def _eml(path: Path) -> MailFile:
    return MailFile(str(path), _date(path.read_bytes()), path.read_bytes)


def _mbox(path: Path) -> list[MailFile]:
    box = mailbox.mbox(str(path), create=False)
    found = []
    for key in box.iterkeys():
        data = box.get_bytes(key)  # without the "From " separator line
        found.append(MailFile(f"{path}#{key}", _date(data), lambda data=data: data))
    return found


def _maildir(path: Path) -> list[MailFile]:
    box = mailbox.Maildir(str(path), factory=None, create=False)
    found = []
    for key in sorted(box.iterkeys()):
        found.append(MailFile(f"{path}/{key}", _date(box.get_bytes(key)), lambda key=key: box.get_bytes(key)))
    return found


def _date(data: bytes) -> datetime:
    try:
        value = BytesHeaderParser().parsebytes(data).get("Date")
        parsed = parsedate_to_datetime(str(value)) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return _EPOCH
    if parsed is None:
        return _EPOCH
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
