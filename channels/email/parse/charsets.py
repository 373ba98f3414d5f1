"""Bytes -> text for the charsets real mail declares, mislabels or leaves out. Never raises."""
from __future__ import annotations

import codecs
import re
from email.message import Message

# Declared names that lie or that Python spells differently. GB2312 and GBK mail routinely
# carries GB18030 characters; Shift_JIS mail carries Microsoft's cp932 extensions.
_CHARSET_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "euc-cn": "gb18030", "gb_2312-80": "gb18030", "csgb2312": "gb18030", "x-euc-cn": "gb18030",
    "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
    "ms_kanji": "cp932", "csshiftjis": "cp932", "windows-31j": "cp932",
    "big5": "big5hkscs", "x-big5": "big5hkscs", "cn-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "ks_c_5601": "cp949",
    "iso-8859-8-i": "iso-8859-8", "iso-8859-6-i": "iso-8859-6",
    "windows-874": "cp874", "tis-620": "cp874",
    "unicode-1-1-utf-7": "utf-7", "x-unicode20utf8": "utf-8", "utf8": "utf-8",
    "iso-2022-jp": "iso2022_jp_ext", "iso2022jp": "iso2022_jp_ext",
    "ansi_x3.4-1968": "ascii", "us-ascii": "ascii", "latin1": "iso-8859-1",
    "x-mac-roman": "mac-roman", "macintosh": "mac-roman",
}
# Single-byte charsets decode any bytes, so valid UTF-8 declared as one of these is
# almost always mislabelled UTF-8: decoding it as declared would produce mojibake.
_SINGLE_BYTE = re.compile(r"^(?:ascii|iso-?8859|latin|cp125|windows-125|koi8|mac-|cp874|cp850|cp437)")


def codec_name(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return None


_MULTIBYTE_FAMILY = {
    # A declared charset vouches for its siblings: Japanese mail mixes ISO-2022-JP bodies with
    # raw Shift_JIS headers, Chinese mail GB2312 with GBK/GB18030.
    "iso2022_jp": ("cp932", "euc_jis_2004"), "iso2022_jp_ext": ("cp932", "euc_jis_2004"),
    "euc_jp": ("euc_jis_2004", "cp932"), "cp932": ("cp932",), "shift_jis": ("cp932",),
    "gb18030": ("gb18030",), "gbk": ("gb18030",), "gb2312": ("gb18030",),
    "big5hkscs": ("big5hkscs",), "big5": ("big5hkscs",), "cp950": ("big5hkscs",),
    "cp949": ("cp949",), "euc_kr": ("cp949",),
}
_WESTERN = frozenset({"ascii", "iso8859-1", "iso8859-15", "cp1252", "latin-1"})
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]")


def _cp1252_fallback(error: UnicodeDecodeError) -> tuple[str, int]:
    bad = error.object[error.start : error.end]
    return bad.decode("cp1252", "replace").replace("\ufffd", "") or bad.decode("latin-1"), error.end


codecs.register_error("helpdesk-cp1252", _cp1252_fallback)


def _iso2022_jp(data: bytes) -> str | None:
    """ISO-2022-JP as sent by Windows (NEC/IBM rows the strict codec rejects): via EUC."""
    for codec in ("iso2022_jp_ext", "iso2022_jp_2"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            pass
    out = bytearray()
    double = False
    index = 0
    while index < len(data):
        sequence = data[index : index + 3]
        if sequence in (b"\x1b$B", b"\x1b$@"):
            double, index = True, index + 3
            continue
        if sequence in (b"\x1b(B", b"\x1b(J"):
            double, index = False, index + 3
            continue
        byte = data[index]
        out.append(byte | 0x80 if double and 0x21 <= byte <= 0x7E else byte)
        index += 1
    try:
        return bytes(out).decode("euc_jis_2004")
    except UnicodeDecodeError:
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str] | None = None,
                 hints: tuple[str, ...] = ()) -> str:
    """Decode with the declared charset, then utf-8, cp1252, latin-1: never raises.

    `hints` are other charsets the same message declares; they help with raw 8-bit headers.
    """
    codec = codec_name(charset)
    if charset and codec is None and defects is not None and charset.strip().lower() not in (
        "unknown-8bit", "x-unknown", "unknown", "8bit", "default"
    ):
        defects.append(f"UnknownCharset:{charset.strip()[:40]}")
    if b"\x1b$" in data and (codec is None or codec.startswith("iso2022_jp") or data.isascii()):
        text = _iso2022_jp(data)
        if text is not None:
            return text
    if data.isascii():
        if codec == "utf-7" and b"+" in data:
            try:
                return data.decode("utf-7")
            except UnicodeDecodeError:
                pass
        return data.decode("ascii")
    candidates: list[str] = []
    if not (codec and codec.startswith(("utf_16", "utf-16", "utf_32", "utf-32"))):
        # Valid UTF-8 is almost never text in another charset: trusting the label would mojibake.
        candidates.append("utf-8")
    if codec:
        candidates.append(codec)
    candidates.append("utf-8")
    for hint in hints:
        candidates.extend(_MULTIBYTE_FAMILY.get(hint, ()))
    for candidate in dict.fromkeys(candidates):
        try:
            return data.decode(candidate)
        except (UnicodeDecodeError, LookupError, ValueError):
            continue
    if codec and defects is not None and codec not in ("ascii", "utf-8"):
        defects.append(f"CharsetMismatch:{codec}")
    if _UTF8_SEQUENCE.search(data):
        # Mostly UTF-8 with stray single-byte characters (pasted text, broken converters).
        return data.decode("utf-8", "helpdesk-cp1252")
    if codec and codec in _MULTIBYTE_FAMILY:
        return data.decode(codec, "replace")
    for hint in hints:
        if _SINGLE_BYTE.match(hint) and hint not in _WESTERN:
            return data.decode(hint, "replace")
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")



def charset_hints(message: Message) -> tuple[str, ...]:
    """The charsets a message declares anywhere: the best guesses for its raw 8-bit headers."""
    hints: list[str] = []
    for part in message.walk():
        charset = part.get_param("charset")
        if isinstance(charset, tuple):
            charset = charset[2]
        codec = codec_name(charset) if isinstance(charset, str) else None
        if codec and codec not in ("ascii", "utf-8") and codec not in hints:
            hints.append(codec)
    # Multi-byte families first: they reject what they cannot read, single-byte ones never do.
    hints.sort(key=lambda codec: codec not in _MULTIBYTE_FAMILY)
    return tuple(hints)

