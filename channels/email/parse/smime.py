"""S/MIME: the content inside an opaque-signed CMS blob, read without verifying the signature."""
from __future__ import annotations

from asn1crypto import cms, core

# Opaque-signed mail is BER, often indefinite-length with the content split into chunks of a
# constructed OCTET STRING (OpenSSL's streaming output): asn1crypto reads both and joins chunks.
_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)


def signed_content(der: bytes) -> bytes | None:
    """The encapsulated content of a CMS SignedData blob (RFC 5652), or None (detached, not
    SignedData, unreadable)."""
    try:
        info = cms.ContentInfo.load(der, strict=False)
        if info["content_type"].native != "signed_data":
            return None
        content = info["content"]["encap_content_info"]["content"]
        if isinstance(content, (core.OctetString, core.ParsableOctetString)):
            return bytes(content)
        return None
    except _ASN1_ERRORS:
        return None
