"""S/MIME: the content inside an opaque-signed CMS blob, read without verifying the signature."""
from __future__ import annotations

def _ber_read(data: bytes, offset: int) -> tuple[int, bool, int, int]:
    """One BER TLV header: (tag, constructed, content start, content end or -1 if indefinite)."""
    tag = data[offset]
    constructed = bool(tag & 0x20)
    offset += 1
    if tag & 0x1F == 0x1F:
        while data[offset] & 0x80:
            offset += 1
        offset += 1
    length = data[offset]
    offset += 1
    if length == 0x80:
        return tag, constructed, offset, -1
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    return tag, constructed, offset, offset + length


def _ber_children(data: bytes, start: int, end: int) -> list[tuple[int, bool, int, int, int]]:
    """Children of a constructed value: (tag, constructed, content start, content end, next)."""
    children = []
    offset = start
    while offset < (end if end >= 0 else len(data)):
        if end < 0 and data[offset : offset + 2] == b"\x00\x00":
            break
        tag, constructed, c_start, c_end = _ber_read(data, offset)
        if c_end < 0:
            inner = _ber_children(data, c_start, -1)
            c_end = inner[-1][4] if inner else c_start
            following = c_end + 2
        else:
            following = c_end
        children.append((tag, constructed, c_start, c_end, following))
        offset = following
    return children


def _ber_octets(data: bytes, tag: int, constructed: bool, start: int, end: int) -> bytes:
    if not constructed:
        return data[start:end]
    return b"".join(_ber_octets(data, *child[:4]) for child in _ber_children(data, start, end))


_OID_SIGNED_DATA = bytes.fromhex("2a864886f70d010702")


def signed_content(der: bytes) -> bytes | None:
    """The encapsulated content of a CMS SignedData blob (RFC 5652), without verifying it."""
    try:
        _, _, start, end = _ber_read(der, 0)
        info = _ber_children(der, start, end)
        if der[info[0][2] : info[0][3]] != _OID_SIGNED_DATA:
            return None
        explicit = _ber_children(der, info[1][2], info[1][3])
        signed = _ber_children(der, explicit[0][2], explicit[0][3])
        encap = _ber_children(der, signed[2][2], signed[2][3])
        if len(encap) < 2:
            return None
        wrapped = _ber_children(der, encap[1][2], encap[1][3])
        return _ber_octets(der, *wrapped[0][:4])
    except (IndexError, ValueError):
        return None

