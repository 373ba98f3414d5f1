"""Tell a reply apart from the history it quotes and the signature under it.

Pure functions over plain text. The markers are the ones mail clients actually write
(Gmail, Outlook desktop and web, Apple Mail, Thunderbird) in English and German, plus
a few other languages that cost one alternative in a regex.
"""
from __future__ import annotations

import re

# "On Tue, 3 Apr 2012 at 16:19, Bob <bob@x> wrote:" / "Am 03.04.2012 um 16:19 schrieb Bob:".
# Gmail wraps the line when it is long, so the caller also tries two lines joined.
_ATTRIBUTION = re.compile(
    r"^\s*(?:on|am|le|el|op|il|em|den)\s.{0,300}?"
    r"(?:wrote|writes|schrieb|schreef|a\s+écrit|escribió|ha\s+scritto|escreveu|skrev)\b[^:\n]{0,120}:\s*$",
    re.IGNORECASE,
)
# Thunderbird and many others: "Bob Smith wrote:" / "Bob Smith schrieb:", trusted only when
# quoted lines follow, because "wrote:" on its own can end an ordinary sentence.
_SHORT_ATTRIBUTION = re.compile(
    r"^\s*\S.{0,150}?\s(?:wrote|schrieb|a\s+écrit|escribió|schreef)\s*:\s*$", re.IGNORECASE
)
_ORIGINAL_MESSAGE = re.compile(
    r"^\s*[-_=]{2,}\s*(?:original\s+message|ursprüngliche\s+nachricht|originalnachricht|"
    r"message\s+d'origine|mensaje\s+original|oorspronkelijk\s+bericht|messaggio\s+originale|"
    r"reply\s+message|original\s+nachricht)\s*[-_=]{2,}\s*$",
    re.IGNORECASE,
)
# Outlook web / Outlook for Mac draw a rule, then the header block of the quoted mail.
_RULE = re.compile(r"^\s*_{10,}\s*$")
_HEADER_FROM = re.compile(r"^\s*[*>]?\s*\*?(?:from|von|de|van|da|från)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_SENT = re.compile(
    r"^\s*\*?(?:sent|gesendet|date|datum|envoyé|enviado|verzonden|inviato|skickat|to|an|subject|betreff)"
    r"\s*:", re.IGNORECASE
)
_HEADER_ONE_LINE = re.compile(
    r"^\s*\*?(?:from|von)\s*:.{1,200}?\b(?:sent|gesendet|date|datum)\s*:", re.IGNORECASE
)
_FORWARD = re.compile(
    r"forwarded\s+message|weitergeleitete\s+nachricht|begin\s+forwarded\s+message|"
    r"anfang\s+der\s+weitergeleiteten|message\s+transféré|mensaje\s+reenviado",
    re.IGNORECASE,
)
_SIGNATURE = re.compile(r"^-- ?$")


def _is_quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _next_nonblank(lines: list[str], start: int, limit: int = 3) -> list[int]:
    found: list[int] = []
    for index in range(start, len(lines)):
        if lines[index].strip():
            found.append(index)
            if len(found) >= limit:
                break
    return found


def _follows_forward_marker(lines: list[str], index: int) -> bool:
    seen = 0
    for back in range(index - 1, -1, -1):
        if lines[back].strip():
            if _FORWARD.search(lines[back]):
                return True
            seen += 1
            if seen >= 2:
                break
    return False


def _interleaved(lines: list[str]) -> bool:
    """True when unquoted text follows quoted text: an inline reply we must not cut."""
    end = len(lines)
    while end and (not lines[end - 1].strip() or _is_quoted(lines[end - 1])):
        end -= 1
    seen_quote = False
    for line in lines[:end]:
        if _is_quoted(line):
            seen_quote = True
        elif seen_quote and line.strip():
            return True
    return False


def _quote_start(lines: list[str]) -> int | None:
    """Index of the first line of quoted history, or None."""
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        if _ORIGINAL_MESSAGE.match(line):
            return index
        if _RULE.match(line):
            following = _next_nonblank(lines, index + 1, 1)
            if following and _HEADER_FROM.match(lines[following[0]]):
                return index
            continue
        if _HEADER_ONE_LINE.match(line) and not _follows_forward_marker(lines, index):
            return index
        if _HEADER_FROM.match(line) and not _follows_forward_marker(lines, index):
            following = _next_nonblank(lines, index + 1, 4)
            if sum(1 for i in following if _HEADER_SENT.match(lines[i])) >= 2:
                return index
        if _is_quoted(line):
            continue
        attribution = _ATTRIBUTION.match(line)
        end = index
        if not attribution and index + 1 < len(lines) and len(stripped) < 200:
            # Gmail wraps long attribution lines once.
            joined = stripped + " " + lines[index + 1].strip()
            if re.match(r"^(?:on|am|le|el|op|il|em|den)\s", stripped, re.IGNORECASE):
                attribution = _ATTRIBUTION.match(joined)
                end = index + 1
        if attribution:
            if not _interleaved(lines[end + 1 :]):
                return index
            continue
        if _SHORT_ATTRIBUTION.match(line):
            following = _next_nonblank(lines, index + 1, 1)
            if following and _is_quoted(lines[following[0]]) and not _interleaved(lines[index + 1 :]):
                return index
    return None


def _strip_lines(lines: list[str]) -> list[str]:
    start = _quote_start(lines)
    if start is not None:
        lines = lines[:start]
    for index, line in enumerate(lines):
        if index and _SIGNATURE.match(line):
            lines = lines[:index]
            break
    end = len(lines)
    while end and (not lines[end - 1].strip() or _is_quoted(lines[end - 1])):
        end -= 1
    return lines[:end]


def strip_quotes(text: str) -> str:
    """The new part of a reply: quoted history, attribution lines and signature removed.

    If nothing but quotes would remain, the original (whitespace-trimmed) text is returned,
    so a message never turns into an empty one.
    """
    if not text:
        return ""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n")
    reply = "\n".join(_strip_lines(normalised.split("\n"))).strip()
    # Only quotes, an attribution or a signature: the original is better than nothing.
    return reply or normalised.strip()
