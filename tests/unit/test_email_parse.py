"""parse(): raw RFC 5322 bytes -> InboundMessage, for the mail real clients and servers send."""
from __future__ import annotations

import base64
import binascii
import hashlib
import time
from datetime import datetime, timedelta, timezone

import pytest

from helpdesk.channel import InboundMessage, UnreadablePayload
from channels.email import parse as parse_module
from channels.email.parse import parse


def mail(headers: str, body: str | bytes = "Hello\n") -> bytes:
    """A raw message from readable pieces: header lines as written, CRLF line endings."""
    head = headers.strip("\n").replace("\n", "\r\n").encode("utf-8")
    if isinstance(body, str):
        body = body.replace("\n", "\r\n").encode("utf-8")
    return head + b"\r\n\r\n" + body


BASIC = """From: Ann Example <Ann@Example.COM>
To: Support <support@shop.example>, bob@example.org
Cc: "Carl, C." <carl@example.net>
Subject: Order question
Date: Tue, 03 Jun 2025 14:30:00 +0200
Message-ID: <abc123@mail.example.com>"""


def test_basic_fields_are_read() -> None:
    message = parse(mail(BASIC, "Where is my parcel?\n"), account="support", raw_ref="raw/1.eml")
    assert isinstance(message, InboundMessage)
    assert message.channel == "email"
    assert message.external_id == "<abc123@mail.example.com>"
    assert message.sender.kind == "email"
    assert message.sender.value == "ann@example.com"
    assert message.sender.display_name == "Ann Example"
    assert message.subject == "Order question"
    assert message.text == "Where is my parcel?"
    assert message.full_text == "Where is my parcel?"
    assert message.html is None
    assert message.account == "support" and message.raw_ref == "raw/1.eml"
    assert message.received_at == datetime(2025, 6, 3, 12, 30, tzinfo=timezone.utc)
    assert message.auto_generated is False
    assert message.defects == ()


def test_to_and_cc_become_participants() -> None:
    message = parse(mail(BASIC))
    assert [(i.value, i.display_name) for i in message.cc] == [
        ("support@shop.example", "Support"), ("bob@example.org", None), ("carl@example.net", "Carl, C."),
    ]


def test_message_id_without_angle_brackets_is_normalised() -> None:
    message = parse(mail(BASIC.replace("<abc123@mail.example.com>", "  abc123@mail.example.com ")))
    assert message.external_id == "<abc123@mail.example.com>"


def test_missing_message_id_is_synthesised_stably_from_raw_bytes() -> None:
    raw = mail(BASIC.replace("Message-ID: <abc123@mail.example.com>", "X-Other: 1"))
    first, second = parse(raw), parse(raw)
    assert first.external_id == f"<{hashlib.sha256(raw).hexdigest()}@missing-message-id>"
    assert second.external_id == first.external_id
    assert "MissingMessageId" in first.defects


def test_sender_falls_back_to_reply_to_when_from_has_no_address() -> None:
    raw = mail("From: Drew Fossum\nReply-To: Drew <drew@example.com>\nSubject: x\nMessage-ID: <1@x>")
    assert parse(raw).sender.value == "drew@example.com"


def test_sender_falls_back_to_return_path() -> None:
    raw = mail("Return-Path: <bounce@lists.example>\nSubject: x\nMessage-ID: <1@x>")
    message = parse(raw)
    assert message.sender.value == "bounce@lists.example"
    assert "MissingFrom" in message.defects


def test_no_sender_anywhere_gives_unknown_identity_and_defect() -> None:
    message = parse(mail("Subject: who am I\nMessage-ID: <1@x>"))
    assert message.sender.value == "unknown@invalid"
    assert "NoSenderAddress" in message.defects


def test_unquoted_display_name_with_address_is_read() -> None:
    assert parse(mail("From: Test test@example.com\nMessage-ID: <1@x>")).sender.value == "test@example.com"


def test_encoded_word_inside_address_is_not_decoded() -> None:
    # RFC 2047 section 5 forbids encoded words in an addr-spec; decoding them allows spoofing.
    raw = mail("From: =?utf-8?Q?admin=40bank.example=3E?=@attacker.example\nMessage-ID: <1@x>")
    assert parse(raw).sender.value.endswith("@attacker.example")


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        ("=?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", "Grüße aus Köln"),
        ("=?iso-8859-1?Q?Gru=DF_aus_Oberalteich?=", "Gruß aus Oberalteich"),
        ("=?ISO-8859-15?Q?Preis_20_=A4?=", "Preis 20 €"),
        ("=?windows-1252?Q?=93quoted=94_=96_dash?=", "“quoted” – dash"),
        ("=?windows-1251?B?z/Do4uXy?=", "Привет"),
        ("=?KOI8-R?B?8NLJ18XU?=", "Привет"),
        ("=?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=", "テスト"),
        ("=?gb2312?B?1tDOxA==?=", "中文"),
        ("=?gb2312?B?gYE=?=", "亖"),  # a GBK-only character under a gb2312 label
        ("=?big5?B?pKSk5Q==?=", "中文"),
        ("=?shift_jis?B?h0A=?=", "①"),  # cp932 (NEC) character under a Shift_JIS label
        ("=?utf-8?B?5Lit?= =?utf-8?B?5paH?=", "中文"),
        ("=?utf-8?Q?caf=C3?= =?utf-8?Q?=A9?=", "café"),  # a character split across two words
        ("Re: =?utf-8?Q?Bestellung?= Nr. 5", "Re: Bestellung Nr. 5"),
    ],
)
def test_encoded_word_subjects_are_decoded(encoded: str, expected: str) -> None:
    assert parse(mail(f"From: a@example.com\nSubject: {encoded}\nMessage-ID: <1@x>")).subject == expected


def test_encoded_display_name_is_decoded() -> None:
    raw = mail("From: =?utf-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.de>\nMessage-ID: <1@x>")
    assert parse(raw).sender.display_name == "Jürgen Müller"


def test_unknown_declared_charset_falls_back_to_utf8() -> None:
    raw = mail("From: a@example.com\nSubject: =?x-unknown-cs?Q?Gr=C3=BC=C3=9Fe?=\nMessage-ID: <1@x>")
    assert parse(raw).subject == "Grüße"


def test_utf8_bytes_mislabelled_latin1_do_not_become_mojibake() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/plain; charset=iso-8859-1",
        "Grüße aus Köln\n".encode("utf-8"),
    )
    assert parse(raw).full_text == "Grüße aus Köln"


def test_latin1_body_mislabelled_utf8_falls_back_to_cp1252() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/plain; charset=utf-8",
        "Grüße – bis bald\n".encode("cp1252"),
    )
    message = parse(raw)
    assert message.full_text == "Grüße – bis bald"


def test_mixed_utf8_and_latin1_body_decodes_each_run() -> None:
    body = "Größe: ".encode("utf-8") + "groß".encode("latin-1") + b"\n"
    raw = mail("From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/plain; charset=bogus", body)
    assert parse(raw).full_text == "Größe: groß"


@pytest.mark.parametrize(("raw_subject", "expected"), [
    ("Grüße".encode("utf-8"), "Grüße"),
    ("Grüße".encode("cp1252"), "Grüße"),
])
def test_raw_8bit_headers_are_decoded(raw_subject: bytes, expected: str) -> None:
    raw = b"From: a@example.com\r\nSubject: " + raw_subject + b"\r\nMessage-ID: <1@x>\r\n\r\nhi\r\n"
    assert parse(raw).subject == expected


def test_raw_8bit_header_uses_charset_declared_in_the_body() -> None:
    raw = (
        b"From: a@example.com\r\nSubject: " + "整体提升".encode("gb2312") + b"\r\nMessage-ID: <1@x>\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + "你好".encode("gb2312") + b"\r\n"
    )
    message = parse(raw)
    assert message.subject == "整体提升"
    assert message.full_text == "你好"


def test_iso2022jp_body_with_nec_characters_is_decoded() -> None:
    body = b"\x1b$B-!\x1b(B test\r\n"  # row 13 (NEC special) is outside strict ISO-2022-JP
    raw = mail("From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/plain; charset=ISO-2022-JP", body)
    assert parse(raw).full_text == "① test"


def test_subject_whitespace_is_collapsed_and_missing_subject_is_none() -> None:
    folded = parse(mail("From: a@example.com\nSubject: Too   many\n\tspaces  \nMessage-ID: <1@x>"))
    assert folded.subject == "Too many spaces"
    assert parse(mail("From: a@example.com\nMessage-ID: <1@x>")).subject is None


MULTIPART_ALTERNATIVE = """From: a@example.com
Message-ID: <alt@x>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"
"""


def test_multipart_alternative_keeps_plain_text_and_raw_html() -> None:
    body = (
        "--b1\nContent-Type: text/plain; charset=utf-8\n\nPlain version\n"
        "--b1\nContent-Type: text/html; charset=utf-8\n\n<p onclick=\"x()\">HTML <b>version</b></p>\n"
        "--b1--\n"
    )
    message = parse(mail(MULTIPART_ALTERNATIVE, body))
    assert message.text == "Plain version"
    assert message.html.strip() == '<p onclick="x()">HTML <b>version</b></p>'  # unsanitised, as received
    assert message.attachments == []


def test_html_only_mail_gets_text_with_line_breaks_and_entities() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/html; charset=utf-8",
        "<html><head><title>T</title><style>p{color:red}</style></head><body>"
        "<p>Hello&nbsp;there &amp; welcome</p><div>Line two<br>Line three</div>"
        "<script>alert(1)</script></body></html>",
    )
    message = parse(raw)
    assert message.text == "Hello there & welcome\n\nLine two\nLine three"
    assert message.html.startswith("<html>")


def test_html_only_reply_loses_its_blockquoted_history() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/html; charset=utf-8",
        "<div>Yes please.</div><div>On Mon, Jan 6, 2025 at 10:15 AM Ann &lt;ann@example.com&gt; wrote:</div>"
        "<blockquote>Shall I send a replacement?</blockquote>",
    )
    message = parse(raw)
    assert message.text == "Yes please."
    assert "Shall I send a replacement?" in message.full_text


def test_inline_cid_image_becomes_inline_attachment() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    body = (
        "--r\nContent-Type: text/html; charset=utf-8\n\n<p>Logo: <img src=\"cid:logo123@x\"></p>\n"
        f"--r\nContent-Type: image/png\nContent-ID: <logo123@x>\nContent-Transfer-Encoding: base64\n\n{png}\n"
        "--r--\n"
    )
    raw = mail("From: a@example.com\nMessage-ID: <1@x>\nContent-Type: multipart/related; boundary=r", body)
    (attachment,) = parse(raw).attachments
    assert attachment.inline is True
    assert attachment.content_id == "logo123@x"
    assert attachment.data == b"\x89PNG fake"
    assert attachment.content_type == "image/png"


MIXED = "From: a@example.com\nMessage-ID: <1@x>\nContent-Type: multipart/mixed; boundary=m"


def _mixed(*parts: str) -> bytes:
    body = "--m\nContent-Type: text/plain\n\nSee attached.\n" + "".join(f"--m\n{p}\n" for p in parts) + "--m--\n"
    return mail(MIXED, body)


def test_attachment_keeps_its_filename_and_bytes() -> None:
    pdf = base64.b64encode(b"%PDF-1.4 data").decode()
    raw = _mixed(
        "Content-Type: application/pdf; name=\"x.pdf\"\nContent-Disposition: attachment; filename=\"Rechnung 12.pdf\"\n"
        f"Content-Transfer-Encoding: base64\n\n{pdf}"
    )
    message = parse(raw)
    (attachment,) = message.attachments
    assert (attachment.filename, attachment.content_type, attachment.data) == ("Rechnung 12.pdf", "application/pdf",
                                                                              b"%PDF-1.4 data")
    assert attachment.inline is False
    assert message.text == "See attached."


def test_attachment_without_filename_gets_one_from_its_type() -> None:
    raw = _mixed("Content-Type: application/pdf\nContent-Disposition: attachment\n\n%PDF")
    assert parse(raw).attachments[0].filename == "attachment-1.pdf"


def test_rfc2231_continued_utf8_filename_is_decoded() -> None:
    raw = _mixed(
        "Content-Type: application/octet-stream\n"
        "Content-Disposition: attachment;\n filename*0*=utf-8''Gr%C3%BC%C3%9Fe%20an;\n filename*1*=%20K%C3%B6ln.txt\n\nx"
    )
    assert parse(raw).attachments[0].filename == "Grüße an Köln.txt"


def test_encoded_word_filename_is_decoded() -> None:
    raw = _mixed(
        "Content-Type: text/plain; name=\"=?utf-8?Q?Erkl=C3=A4rung=2Etxt?=\"\n"
        "Content-Disposition: attachment\n\nx"
    )
    assert parse(raw).attachments[0].filename == "Erklärung.txt"


def test_raw_utf8_filename_is_decoded() -> None:
    raw = _mixed('Content-Type: image/jpeg\nContent-Disposition: attachment; filename="Hofjägerallee.jpg"\n\nx')
    assert parse(raw).attachments[0].filename == "Hofjägerallee.jpg"


def test_forwarded_message_is_kept_as_eml_named_after_its_subject() -> None:
    raw = _mixed(
        "Content-Type: message/rfc822\n\nFrom: c@example.org\nSubject: Broken kettle\n"
        "Message-ID: <inner@x>\n\nIt is broken."
    )
    message = parse(raw)
    (attachment,) = message.attachments
    assert attachment.filename == "Broken kettle.eml"
    assert attachment.content_type == "message/rfc822"
    assert b"It is broken." in attachment.data
    assert message.text == "See attached."


def test_calendar_invite_becomes_invite_ics() -> None:
    raw = _mixed("Content-Type: text/calendar; method=REQUEST; charset=utf-8\n\nBEGIN:VCALENDAR\nEND:VCALENDAR")
    (attachment,) = parse(raw).attachments
    assert attachment.filename == "invite.ics"
    assert attachment.data.startswith(b"BEGIN:VCALENDAR")


def test_unreadable_tnef_is_kept_as_winmail_dat_with_defect() -> None:
    raw = _mixed("Content-Type: application/ms-tnef; name=winmail.dat\nContent-Transfer-Encoding: base64\n\n"
                 + base64.b64encode(b"not really tnef").decode())
    message = parse(raw)
    assert [a.filename for a in message.attachments] == ["winmail.dat"]
    assert any(d.startswith("Tnef") for d in message.defects)


def test_uuencoded_body_becomes_attachment() -> None:
    encoded = binascii.b2a_uu(b"hello\n").decode()
    body = f"Report attached.\n\nbegin 644 report.txt\n{encoded}`\nend\n"
    message = parse(mail("From: a@example.com\nMessage-ID: <1@x>", body))
    assert [(a.filename, a.data) for a in message.attachments] == [("report.txt", b"hello\n")]
    assert message.full_text == "Report attached."


def test_format_flowed_lines_are_joined() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\nContent-Type: text/plain; charset=utf-8; format=flowed",
        "This is one \nlong paragraph.\n\nNext.\n",
    )
    assert parse(raw).full_text == "This is one long paragraph.\n\nNext."


def test_smime_multipart_signed_body_is_read_and_signature_kept() -> None:
    body = (
        "--s\nContent-Type: text/plain; charset=utf-8\n\nSigned hello\n"
        "--s\nContent-Type: application/pkcs7-signature; name=smime.p7s\nContent-Transfer-Encoding: base64\n\n"
        + base64.b64encode(b"\x30\x00").decode() + "\n--s--\n"
    )
    raw = mail("From: a@example.com\nMessage-ID: <1@x>\n"
               "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s", body)
    message = parse(raw)
    assert message.text == "Signed hello"
    assert [(a.filename, a.data) for a in message.attachments] == [("smime.p7s", b"\x30\x00")]


def _der(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    size = (length.bit_length() + 7) // 8
    return bytes([tag, 0x80 | size]) + length.to_bytes(size, "big") + content


def test_smime_opaque_signed_data_content_is_read() -> None:
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\nOpaque signed hello\r\n"
    oid_data = _der(0x06, bytes.fromhex("2a864886f70d010701"))
    oid_signed = _der(0x06, bytes.fromhex("2a864886f70d010702"))
    encap = _der(0x30, oid_data + _der(0xA0, _der(0x04, inner)))
    signed = _der(0x30, _der(0x02, b"\x01") + _der(0x31, b"") + encap + _der(0x31, b""))
    blob = _der(0x30, oid_signed + _der(0xA0, signed))
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\n"
        "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\n"
        "Content-Transfer-Encoding: base64",
        base64.encodebytes(blob).decode(),
    )
    message = parse(raw)
    assert message.text == "Opaque signed hello"
    assert [a.filename for a in message.attachments] == ["smime.p7m"]


def _ber_indefinite(tag: int, content: bytes) -> bytes:
    return bytes([tag, 0x80]) + content + b"\x00\x00"


def test_smime_opaque_signed_indefinite_length_ber_with_chunked_content_is_read() -> None:
    # OpenSSL's streaming output: indefinite lengths, the content split over a constructed OCTET STRING.
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\nStreamed signed hello\r\n"
    chunks = _ber_indefinite(0x24, _der(0x04, inner[:20]) + _der(0x04, inner[20:]))
    encap = _ber_indefinite(0x30, _der(0x06, bytes.fromhex("2a864886f70d010701")) + _ber_indefinite(0xA0, chunks))
    signed = _ber_indefinite(0x30, _der(0x02, b"\x01") + _der(0x31, b"") + encap + _der(0x31, b""))
    blob = _ber_indefinite(0x30, _der(0x06, bytes.fromhex("2a864886f70d010702")) + _ber_indefinite(0xA0, signed))
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\n"
        "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\n"
        "Content-Transfer-Encoding: base64",
        base64.encodebytes(blob).decode(),
    )
    message = parse(raw)
    assert message.text == "Streamed signed hello"
    assert "SmimeUnreadable" not in message.defects


@pytest.mark.parametrize("blob", [b"", b"\x30\x80", b"\x30\x82\xff\xff\x06", b"\x30\x80" * 5000, bytes(range(256))])
def test_smime_unreadable_signed_data_is_kept_with_defect(blob: bytes) -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\n"
        "Content-Type: application/pkcs7-mime; smime-type=signed-data; name=smime.p7m\n"
        "Content-Transfer-Encoding: base64",
        base64.encodebytes(blob).decode(),
    )
    message = parse(raw)
    assert [a.filename for a in message.attachments] == ["smime.p7m"]
    assert "SmimeUnreadable" in message.defects


def test_smime_encrypted_mail_is_kept_with_defect() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <1@x>\n"
        "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
        "Content-Transfer-Encoding: base64",
        base64.b64encode(b"\x30\x03\x02\x01\x00").decode(),
    )
    message = parse(raw)
    assert [a.filename for a in message.attachments] == ["smime.p7m"]
    assert "SmimeEncrypted" in message.defects


def test_thread_keys_are_read() -> None:
    raw = mail(
        "From: a@example.com\nMessage-ID: <3@x>\nSubject: Re: Broken kettle [#42]\n"
        "In-Reply-To: <2@x> (Ann's message of today)\nReferences: <1@x>\n <0@x>"
    )
    keys = parse(raw).thread_keys
    assert keys.in_reply_to == "<2@x>"
    assert keys.references == ("<1@x>", "<0@x>", "<2@x>")
    assert keys.ticket_token == 42
    assert keys.platform_thread_id is None


def test_in_reply_to_already_in_references_is_not_repeated() -> None:
    raw = mail("From: a@example.com\nMessage-ID: <3@x>\nIn-Reply-To: <2@x>\nReferences: <1@x> <2@x>")
    assert parse(raw).thread_keys.references == ("<1@x>", "<2@x>")


def test_subject_without_token_has_no_ticket_token() -> None:
    assert parse(mail("From: a@example.com\nMessage-ID: <3@x>\nSubject: Order #42")).thread_keys.ticket_token is None


def test_date_without_zone_is_taken_as_utc() -> None:
    raw = mail("From: a@example.com\nMessage-ID: <1@x>\nDate: Tue, 03 Jun 2025 14:30:00 -0000")
    assert parse(raw).received_at == datetime(2025, 6, 3, 14, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(("header", "defect"), [("", "MissingDate"), ("Date: yesterday-ish\n", "InvalidDate")])
def test_missing_or_bad_date_is_now_with_defect(header: str, defect: str) -> None:
    message = parse(mail(f"From: a@example.com\n{header}Message-ID: <1@x>"))
    assert abs(message.received_at - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert message.received_at.tzinfo is not None
    assert defect in message.defects


def test_reply_text_is_stripped_but_full_text_kept() -> None:
    body = "Thanks!\n\nOn Mon, Jan 6, 2025 at 10:15 AM Ann <ann@example.com> wrote:\n> Your order shipped.\n"
    message = parse(mail("From: a@example.com\nMessage-ID: <1@x>", body))
    assert message.text == "Thanks!"
    assert "> Your order shipped." in message.full_text


@pytest.mark.parametrize(
    "header",
    [
        "Auto-Submitted: auto-replied",
        "Auto-Submitted: auto-generated",
        "X-Autoreply: yes",
        "X-Autorespond: yes",
        "X-Auto-Response-Suppress: All",
        "X-Auto-Response-Suppress: DR, OOF",
        "Precedence: bulk",
        "Precedence: junk",
        "Precedence: list",
        "List-Id: <announce.lists.example>",
        "List-Unsubscribe: <mailto:leave@lists.example>",
        "Return-Path: <>",
    ],
)
def test_auto_generated_headers_are_recognised(header: str) -> None:
    assert parse(mail(f"From: a@example.com\nMessage-ID: <1@x>\n{header}")).auto_generated is True


@pytest.mark.parametrize("header", ["Auto-Submitted: no", "Precedence: normal", "X-Auto-Response-Suppress: DR"])
def test_ordinary_headers_are_not_auto_generated(header: str) -> None:
    assert parse(mail(f"From: a@example.com\nMessage-ID: <1@x>\n{header}")).auto_generated is False


DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.example>
To: support@shop.example
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce1@mx.example>
Content-Type: multipart/report; report-type=delivery-status; boundary=d"""

DSN_BODY = """--d
Content-Type: text/plain

I'm sorry to have to inform you that your message could not be delivered.

--d
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; gone@example.org
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected

--d
Content-Type: message/rfc822

From: support@shop.example
To: gone@example.org
Subject: Your ticket [#7]
Message-ID: <reply-7@shop.example>

Hello
--d--
"""


def test_dsn_bounce_reports_original_message_and_reason() -> None:
    message = parse(mail(DSN, DSN_BODY))
    assert message.auto_generated is True
    assert message.bounce_of == "<reply-7@shop.example>"
    assert message.bounce_reason == "550 5.1.1 <gone@example.org>: Recipient address rejected"
    assert "Your ticket [#7].eml" in [a.filename for a in message.attachments]


def test_dsn_with_only_headers_of_the_original_finds_its_message_id() -> None:
    body = DSN_BODY.replace("Content-Type: message/rfc822", "Content-Type: text/rfc822-headers")
    assert parse(mail(DSN, body)).bounce_of == "<reply-7@shop.example>"


def test_dsn_without_diagnostic_code_uses_status() -> None:
    body = DSN_BODY.replace("Diagnostic-Code: smtp; 550 5.1.1 <gone@example.org>: Recipient address rejected\n", "")
    assert "5.1.1" in parse(mail(DSN, body)).bounce_reason


def test_non_dsn_bounce_is_found_by_sender_and_subject_with_body_message_id() -> None:
    body = (
        "This is the mail system at host mx.example.\n\n"
        "Your message could not be delivered: mailbox unavailable.\n\n"
        "------ original message ------\nMessage-ID: <reply-9@shop.example>\nSubject: hi\n"
    )
    raw = mail("From: postmaster@mx.example\nSubject: Mail delivery failed\nMessage-ID: <b2@mx>", body)
    message = parse(raw)
    assert message.auto_generated is True
    assert message.bounce_of == "<reply-9@shop.example>"
    assert "could not be delivered" in message.bounce_reason


@pytest.mark.parametrize("subject", [
    "Undeliverable: Your ticket", "Delivery Status Notification (Failure)", "Mail delivery failed: returning message",
    "Undelivered Mail Returned to Sender",
])
def test_bounce_subjects_are_auto_generated(subject: str) -> None:
    raw = mail(f"From: System <system@mx.example>\nSubject: {subject}\nMessage-ID: <b@x>", "failed\n")
    assert parse(raw).auto_generated is True


def test_read_receipt_mdn_is_auto_generated_and_not_a_bounce() -> None:
    body = (
        "--n\nContent-Type: text/plain\n\nYour message was displayed.\n"
        "--n\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; a@example.com\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n--n--\n"
    )
    raw = mail("From: a@example.com\nMessage-ID: <m@x>\nSubject: Read: hi\n"
               "Content-Type: multipart/report; report-type=disposition-notification; boundary=n", body)
    message = parse(raw)
    assert message.auto_generated is True
    assert message.bounce_of is None


MDN = (
    "Content-Type: multipart/report; report-type=disposition-notification; boundary=n",
    "--n\nContent-Type: text/plain\n\nYour message was displayed.\n"
    "--n\nContent-Type: message/disposition-notification\n\nFinal-Recipient: rfc822; a@example.com\n"
    "Disposition: manual-action/MDN-sent-manually; displayed\n--n--\n",
)


@pytest.mark.parametrize(("sender", "subject", "extra", "body", "machine_reply", "auto_generated"), [
    # delivery reports: a DSN, a bounce found by sender and subject, one without the original's id
    ("MAILER-DAEMON@mx.example", "Undelivered Mail Returned to Sender", DSN.split("\n")[-1], DSN_BODY, "bounce", True),
    ("postmaster@mx.example", "Mail delivery failed", "", "Message-ID: <r@shop.example>\n", "bounce", True),
    ("system@mx.example", "Undeliverable: Your ticket", "", "could not be delivered\n", "bounce", True),
    ("MAILER-DAEMON@mx.example", "Your message", "", "could not be delivered\n", "bounce", True),
    ("MAILER-DAEMON@mx.example", "Undelivered Mail", "Auto-Submitted: auto-replied", "failed\n", "bounce", True),
    # read receipts
    ("ann@example.com", "Read: Your ticket", MDN[0], MDN[1], "receipt", True),
    # auto-replies (RFC 3834, vacation programs, Exchange out of office)
    ("ann@example.com", "Re: Your ticket", "Auto-Submitted: auto-replied", "", "auto-reply", True),
    ("ann@example.com", "Re: Your ticket", "Auto-Submitted: auto-replied (vacation)", "", "auto-reply", True),
    ("ann@example.com", "Away", "X-Autoreply: yes", "", "auto-reply", True),
    ("ann@example.com", "Away", "X-Autorespond: Away until Monday", "", "auto-reply", True),
    ("ann@example.com", "Away", "Precedence: auto_reply", "", "auto-reply", True),
    ("ann@example.com", "Automatic reply: Your ticket",
     "X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: ann@example.com", "", "auto-reply", True),
    ("ann@example.com", "Automatic reply: Your ticket", "X-Auto-Response-Suppress: DR, OOF", "", "auto-reply", True),
    ("ann@example.com", "Out of Office: Your ticket", "X-MS-Exchange-Inbox-Rules-Loop: ann@example.com", "",
     "auto-reply", True),
    # auto-generated but answering nothing of ours: notifications, list and bulk mail
    ("jira@example.org", "[jira] Created", "X-Auto-Response-Suppress: All", "", None, True),
    ("shop@example.org", "Your invoice", "Auto-Submitted: auto-generated", "", None, True),
    ("list@example.org", "[list] news", "List-Id: <news.example.org>", "", None, True),
    ("list@example.org", "news", "Precedence: bulk", "", None, True),
    ("list@example.org", "news", "Precedence: list", "", None, True),
    # people
    ("Bob <postmaster@example.com>", "About my order", "", "", None, False),
    ("ann@example.com", "Out of office until Monday, please ship later", "", "", None, False),
    ("ann@example.com", "Re: Your ticket", "X-MS-Exchange-Inbox-Rules-Loop: ann@example.com", "", None, False),
    ("ann@example.com", "Automatic reply: did you get my order?", "", "", None, False),
])
def test_machine_reply_says_which_machine_answered(
    sender: str, subject: str, extra: str, body: str, machine_reply: str | None, auto_generated: bool,
) -> None:
    headers = f"From: {sender}\nTo: support@shop.example\nSubject: {subject}\nMessage-ID: <m@x>\n{extra}"
    message = parse(mail(headers.strip("\n"), body or "Hello\n"))
    assert (message.machine_reply, message.auto_generated) == (machine_reply, auto_generated)


def test_bounce_without_original_message_id_is_still_a_bounce() -> None:
    message = parse(mail("From: postmaster@mx.example\nSubject: Mail delivery failed\nMessage-ID: <b@x>",
                         "Your message could not be delivered.\n"))
    assert (message.machine_reply, message.bounce_of) == ("bounce", None)
    assert "could not be delivered" in message.bounce_reason


def test_ordinary_customer_mail_is_not_a_bounce() -> None:
    message = parse(mail(BASIC, "My order never arrived, delivery failed?\n"))
    assert message.auto_generated is False
    assert message.machine_reply is None
    assert message.bounce_of is None and message.bounce_reason is None


@pytest.mark.parametrize("raw", [
    b"Subject: =?utf-8?B?broken base64!!?=\r\n\r\n",
    b"Subject: x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n"
    b"--x\r\nContent-Type: text/plain; charset=\"\r\n\r\nhi",
    b"From: <<<@@@>>>\r\nDate: Mon, 99 Foo 99999 99:99:99 +9999\r\n\r\nhi",
    b"Date: x\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64",
    b"From: a@example.com\r\nSubj",  # truncated inside the header block: still mail
])
def test_hostile_mail_never_raises(raw: bytes) -> None:
    message = parse(raw)
    assert isinstance(message, InboundMessage)
    assert message.external_id.endswith("@missing-message-id>")


@pytest.mark.parametrize(("raw", "reason"), [
    (b"", "not an email: empty input (0 bytes)"),
    (b"\r\n \r\n", "not an email: nothing but blank space (5 bytes)"),
    (b"\x00\xff\xfe garbage", "not an email: no header block and no sender (11 bytes of binary data)"),
    (bytes(range(256)) * 2, "not an email: no header block and no sender (512 bytes of binary data)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
     "no header block and no sender (512 bytes of binary data: an OLE compound file, e.g. an Outlook .msg)"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj",
     "no header block and no sender (22 bytes of binary data: a PDF document)"),
    # the second half of a message whose head was cut off: body text, then a MIME part
    (b"ipsum dolor sit amet.\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nmore\r\n",
     "no header block and no sender (65 bytes of text starting 'ipsum dolor sit amet.')"),
    (b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64",
     "its headers (Content-Type, Content-Transfer-Encoding) name no sender, date, subject or message id"),
    (b"From \r\nLorem ipsum\r\n", "no header block and no sender"),
])
def test_input_that_is_not_mail_is_unreadable_payload_with_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(UnreadablePayload) as raised:
        parse(raw)
    assert reason in str(raised.value)
    assert str(raised.value).startswith("not an email: ")


@pytest.mark.parametrize("raw", [
    b"From: a@example.com\r\n\r\nhi",
    b"Message-ID: <1@x>\r\n\r\n",
    b"Received: from mx.example by mx2.example; Mon, 2 Jun 2025 10:00:00 +0000\r\n\r\nhi",
    b"\r\n\r\nSubject: after blank lines\r\n\r\nhi",
    b"From ann@example.com Mon Jun  2 10:00:00 2025\nFrom: ann@example.com\n\nmbox",
])
def test_minimal_mail_is_accepted(raw: bytes) -> None:
    assert isinstance(parse(raw), InboundMessage)


def test_obsolete_space_before_colon_in_header_names_is_read() -> None:
    # RFC 5322 appendix A.6.3
    raw = (b"From  : John Doe <jdoe@machine.example>\r\nTo    : Mary Smith\r\n  <mary@example.net>\r\n"
           b"Subject     : Saying Hello\r\nMessage-ID  : <1234@local.machine.example>\r\n\r\nHello.\r\n")
    message = parse(raw)
    assert (message.sender.value, message.subject, message.external_id) == (
        "jdoe@machine.example", "Saying Hello", "<1234@local.machine.example>")
    assert [identity.value for identity in message.cc] == ["mary@example.net"]


def test_deeply_nested_multipart_never_raises() -> None:
    depth = 200
    head = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(depth))
    raw = b"From: a@example.com\r\nMessage-ID: <deep@x>\r\n" + head.encode() + b"Content-Type: text/plain\r\n\r\nhi\r\n"
    message = parse(raw)
    assert isinstance(message, InboundMessage)
    assert message.external_id == "<deep@x>"


def test_internal_failure_returns_best_effort_message_with_defect(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(parse_module, "_parse", explode)
    raw = mail(BASIC, "still readable")
    message = parse(raw)
    assert message.defects == ("ParseError:RuntimeError",)
    assert "still readable" in message.text
    assert message.external_id == f"<{hashlib.sha256(raw).hexdigest()}@missing-message-id>"
    assert message.sender.value == "unknown@invalid"


def test_header_block_with_leading_junk_and_unfolded_line_is_mended() -> None:
    raw = (b"---- Original email message ----\r\nFrom: a@example.com\r\nX-Long: part one\r\n"
           b"part two without indentation\r\nSubject: mended\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n")
    message = parse(raw)
    assert (message.sender.value, message.subject, message.full_text) == ("a@example.com", "mended", "body")


def test_typical_five_kilobyte_mail_parses_in_about_a_millisecond() -> None:
    paragraph = "We received your request and will get back to you shortly. " * 8 + "\n\n"
    body = (
        "--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        + paragraph * 4
        + "--b1\nContent-Type: text/html; charset=utf-8\n\n<div>" + paragraph.replace("\n\n", "<br><br>") * 4
        + "</div>\n--b1--\n"
    )
    raw = mail(BASIC + "\nIn-Reply-To: <0@x>\nReferences: <0@x>\nMIME-Version: 1.0\n"
               "Content-Type: multipart/alternative; boundary=b1", body)
    assert 4000 < len(raw) < 6000
    parse(raw)
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        parse(raw)
    per_message = (time.perf_counter() - started) / runs
    # About 0.5 ms on a laptop; the bound leaves room for slow CI machines.
    assert per_message < 0.005, f"{per_message * 1000:.2f} ms per message"
