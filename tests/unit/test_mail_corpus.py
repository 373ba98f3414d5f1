"""The parser against 671 real messages from other projects' fixtures (see the corpus README).

Every message must parse without raising. Where the source ships an expected result (Zammad
.yml, James .json, talon *_reply_text) we compare sender, subject, body and attachment names.
Zammad's files record Zammad's output, quirks included: where we legitimately differ, the
message is listed in ALLOWED_DIFFERENCES with the reason, and only that field is skipped.
"""
from __future__ import annotations

import base64
import csv
import json
import os
import re
import time
from functools import cache
from pathlib import Path

import pytest
import yaml

from helpdesk.channel import InboundMessage, UnreadablePayload
from channels.email.parse import html_to_text, parse


def _corpus_dir() -> Path:
    override = os.environ.get("HELPDESK_CORPUS_DIR")
    if override:
        return Path(override)
    return Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "mail"


CORPUS = _corpus_dir()
if not (CORPUS / "MANIFEST.tsv").is_file():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"mail corpus not found at {CORPUS} (set HELPDESK_CORPUS_DIR)")
    pytest.skip(f"mail corpus not found at {CORPUS}", allow_module_level=True)


def _manifest() -> list[dict[str, str]]:
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


ROWS = _manifest()


@cache
def _parsed(name: str) -> InboundMessage:
    return parse((CORPUS / name).read_bytes(), raw_ref=name)


# (file, field) -> why our reading legitimately differs from the expected file.
ALLOWED_DIFFERENCES: dict[tuple[str, str], str] = {
    ("zammad/mail018.box", "subject"): "Zammad leaves the UTF-7 '+ANw-' of a raw 8-bit subject undecoded; we decode it",
    ("zammad/mail018.box", "body"): "body declared UTF-7: we decode it, Zammad shows '+APw-' sequences",
    ("zammad/mail025.box", "body"): "the uuencoded block becomes an attachment instead of staying in the text",
    ("zammad/mail025.box", "attachments"): "same: we decode the uuencoded rulesets-report.csv, Zammad keeps it as text",
    ("zammad/mail035.box", "from"): "Zammad keeps the quotes of a quoted addr-spec in from_email",
    ("zammad/mail053.box", "from"): "From is a bare 'MAILER-DAEMON' with no domain and no fallback header: "
                                    "we use unknown@invalid rather than a non-address",
    ("zammad/mail054.box", "body"): "a folded header lost its indentation; we mend the header block and find "
                                    "the body Zammad reports as empty",
    ("zammad/mail060.box", "body"): "UTF-8 mixed with Latin-1 under an unknown charset: we decode each run, "
                                    "Zammad shows mojibake",
    ("zammad/mail064.box", "attachments"): "windows-1258 filename: we decode the combining accents (NFC 'é'), "
                                           "Zammad shows 'eì'",
    ("zammad/mail073.box", "attachments"): "RFC 2231 filename labelled us-ascii holding a Latin-1 byte: we read "
                                           "'Wölbung', Zammad 'W\ufffdlbung'",
    ("zammad/mail076.box", "from"): "malformed From ('\"x y\"@example.com>'): both readings are guesses",
    ("zammad/mail085.box", "attachments"): "same as body: the second HTML fragment is body, not 'document.html'",
    ("zammad/mail087.box", "body"): "an untyped text part after the PDF is read as the body (RFC 2045 default "
                                    "text/plain); Zammad stores it as an attachment called 'file'",
    ("zammad/mail087.box", "attachments"): "same: the untyped text part is body, not the attachment 'file'",
    ("zammad/mail020.box", "body"): "spam written in HTML entities: Python maps &rang;/&lang; to the HTML5 "
                                    "code points (U+27E9), Ruby to the HTML4 ones (U+3009)",
    ("zammad/mail021.box", "body"): "same entity mapping as mail020, and Zammad shows a Cyrillic line as "
                                    "mojibake ('ĐˇĐ°Ń') that we decode",
    ("zammad/mail026.box", "body"): "the HTML part's only text is its <title>, which Zammad shows as the "
                                    "body; we do not render <title> (the text/plain part holds the content)",
    ("zammad/mail023.box", "body"): "8-bit GB2312 body with no charset declared anywhere: we do not guess CJK "
                                    "(cp1252 fallback), Zammad's detector does",
    ("zammad/mail072.box", "body"): "windows-1258 body: we decode 'à', Zammad shows 'ŕ' (read as windows-1250)",
    ("james/mailbox-store/recursiveMail.eml", "attachments"): "we keep the forwarded message whole as "
                                                              "'Courbe Sprint.eml'; James lists the file inside it",
    ("zammad/mail087.box", "from"): "'From: Test test@example.com' (unquoted name): we read test@example.com, "
                                    "Zammad the whole string",
    ("zammad/mail100.box", "attachments"): "Zammad lists the Content-ID '32497.1617621278.2' as an extra file; "
                                           "the part is one attachment named by its name= parameter",
    ("zammad/mail102.box", "attachments"): "Zammad renames the second of two equal filenames "
                                           "('091.00.38.png'); we keep the name the sender gave",
    ("zammad/mail105.box", "body"): "multipart without its boundary: we read the body as text, Zammad shows none",
    ("zammad/mail117.box", "from"): "encoded words inside an addr-spec are not decoded (RFC 2047 section 5; "
                                    "decoding them allows sender spoofing)",
    ("zammad/mail118.box", "from"): "encoded words inside an addr-spec are not decoded (RFC 2047 section 5; "
                                    "decoding them allows sender spoofing)",
    ("james/mailbox-store/james-3901.eml", "from"): "From holds a name without an address; we fall back to "
                                                    "Return-Path as designed, James reports the name",
    ("james/mailbox-store/spamMail.eml", "attachments"): "James counts the inline text/plain parts as "
                                                         "attachments; we read them as body text",
}

# Files in the corpus that are not mail: parse() raises UnreadablePayload (the pipeline quarantines
# them) with a reason that says so. Each entry: the reason's telling part, and why it is right.
NOT_MAIL: dict[str, tuple[str, str]] = {
    "mail-parser/mail_outlook_1": ("an OLE compound file", "an Outlook .msg file, not RFC 5322: mail-parser "
                                                            "reads it with a separate msg converter"),
    "rt/emails/lorem-ipsum": ("no header block and no sender", "body text RT's tests put into mail; no headers"),
    "nodemailer-mailparser/mixed.eml": ("its headers (Content-Type)", "a bare MIME body: no sender, date, subject, "
                                                                      "message id or trace header"),
    "mimekit/messages/multipart-related-mhtml.txt": ("its headers (MIME-Version, Content-Type)",
                                                     "an MHTML web-page archive, not a message"),
    "flanker/bounce/delayed-broken.eml": ("its headers (Content-Type, MIME-Version)",
                                          "a delivery-status part cut out of its report: no message headers"),
}

# Names Zammad invents for parts that carry none; we invent "attachment-N.ext" instead.
_ZAMMAD_UNNAMED = re.compile(r"^(?:file|document\d?\.html|image\d?\.\w+|video\d?\.\w+)$")
_OUR_UNNAMED = re.compile(r"^attachment-\d+\.\w+$")


def _norm(text: str | None) -> str:
    return re.sub(r"\s+", " ", (text or "").replace("\u00a0", " ")).strip()


def _same_names(expected: list[str], ours: list[str]) -> bool:
    named_expected = sorted(n for n in expected if not _ZAMMAD_UNNAMED.match(n))
    named_ours = sorted(n for n in ours if not _OUR_UNNAMED.match(n))
    if named_expected == named_ours:
        return len(expected) == len(ours)
    # A name Zammad invented may match a real name of ours only by count.
    return sorted(expected) == sorted(ours)


def _text_matches(expected: str, ours: str) -> bool:
    """Plain text: the first 200 characters of the expected body appear verbatim in ours."""
    expected_norm, ours_norm = _norm(expected), _norm(ours)
    if not expected_norm:
        return not ours_norm
    return expected_norm[:200] in ours_norm


def _html_matches(expected_html: str, ours: str) -> bool:
    """HTML, which every parser renders a little differently: 80% of the first 30 lines appear."""
    ours_norm = _norm(ours.replace(">", " "))
    lines = [_norm(line.replace(">", " ")) for line in html_to_text(expected_html).split("\n")]
    lines = [line for line in lines if line][:30]
    if not lines:
        return not ours_norm
    found = sum(1 for line in lines if line in ours_norm)
    return found >= 0.8 * len(lines)


class _RubyYamlLoader(yaml.SafeLoader):
    """Zammad's .yml: ActiveSupport hashes as plain mappings, !binary as bytes (see README)."""


_RubyYamlLoader.add_constructor(
    "!ruby/hash:ActiveSupport::HashWithIndifferentAccess",
    lambda loader, node: loader.construct_mapping(node, deep=True),
)
_RubyYamlLoader.add_constructor("!binary", lambda loader, node: base64.b64decode(loader.construct_scalar(node)))


def _zammad_mismatches(row: dict[str, str]) -> dict[str, tuple]:
    expected = yaml.load((CORPUS / row["expected_file"]).read_text(encoding="utf-8"), Loader=_RubyYamlLoader)
    message = _parsed(row["file"])
    out: dict[str, tuple] = {}
    if expected.get("from_email") is not None and expected["from_email"].lower() != message.sender.value:
        out["from"] = (expected["from_email"], message.sender.value)
    if _norm(expected.get("subject")) != _norm(message.subject):
        out["subject"] = (expected.get("subject"), message.subject)
    body = expected.get("body") or ""
    if body.strip() == "no visible content":  # Zammad's placeholder for an empty body
        body = ""
    if expected.get("content_type") == "text/html":
        ours = html_to_text(message.html) if message.html else message.full_text or ""
        matched = _html_matches(body, ours)
    else:
        matched = _text_matches(body, message.full_text or "")
    if not matched:
        out["body"] = (_norm(body)[:120], _norm(message.full_text)[:120])
    # Zammad stores the HTML body itself as an attachment "message.html"; ours is `html`.
    names = [a["filename"] for a in expected.get("attachments") or [] if a.get("filename") != "message.html"]
    ours_names = [a.filename for a in message.attachments]
    if not _same_names(names, ours_names):
        out["attachments"] = (sorted(names), sorted(ours_names))
    return out


def _james_mismatches(row: dict[str, str]) -> dict[str, tuple]:
    expected = json.loads((CORPUS / row["expected_file"]).read_text(encoding="utf-8"))
    message = _parsed(row["file"])
    out: dict[str, tuple] = {}
    address = (expected.get("from") or [{}])[0].get("address")
    if (address or "").lower() != message.sender.value:
        out["from"] = (address, message.sender.value)
    # James indexes the subject as pieces: the base subject, then each "[list tag]" it removed.
    pieces = expected.get("subject") or []
    if not pieces or not all(_norm(piece) in _norm(message.subject) for piece in pieces):
        out["subject"] = (pieces, message.subject)
    if expected.get("textBody") is not None:
        if not _text_matches(expected["textBody"], message.full_text or ""):
            out["body"] = (_norm(expected["textBody"])[:120], _norm(message.full_text)[:120])
    elif expected.get("htmlBody") and not _html_matches(expected["htmlBody"], html_to_text(message.html or "")):
        out["body"] = (_norm(expected["htmlBody"])[:120], _norm(message.html)[:120])
    names = [a.get("fileName") or "file" for a in expected.get("attachments") or []]
    ours_names = [a.filename for a in message.attachments]
    if not _same_names(names, ours_names):
        out["attachments"] = (sorted(names), sorted(ours_names))
    return out


_TALON_SIGNATURE = re.compile(r"\n-- ?\n.*", re.DOTALL)


def _talon_mismatches(row: dict[str, str]) -> dict[str, tuple]:
    expected = (CORPUS / row["expected_file"]).read_text(encoding="utf-8")
    message = _parsed(row["file"])
    out: dict[str, tuple] = {}
    # talon's reply extraction keeps the signature (its signature extractor is separate); our
    # `text` drops it, so the signature is cut from the expectation too.
    wanted = _TALON_SIGNATURE.sub("", expected.replace("\r\n", "\n")).strip()
    if _norm(message.text) != _norm(wanted):
        out["body"] = (wanted, message.text)
    return out


def _expected_rows() -> list[dict[str, str]]:
    return [
        row for row in ROWS
        if row["expected_file"] and (
            row["expected_file"].endswith((".yml", ".json")) or row["expected_file"].endswith("_reply_text")
        )
    ]


def _mismatches(row: dict[str, str]) -> dict[str, tuple]:
    if row["expected_file"].endswith(".yml"):
        return _zammad_mismatches(row)
    if row["expected_file"].endswith(".json"):
        return _james_mismatches(row)
    return _talon_mismatches(row)


@pytest.mark.parametrize("row", ROWS, ids=[row["file"] for row in ROWS])
def test_every_corpus_message_parses_without_raising(row: dict[str, str]) -> None:
    if row["file"] in NOT_MAIL:
        with pytest.raises(UnreadablePayload) as raised:
            parse((CORPUS / row["file"]).read_bytes())
        assert NOT_MAIL[row["file"]][0] in str(raised.value)
        return
    message = _parsed(row["file"])
    assert isinstance(message, InboundMessage)
    assert message.channel == "email"
    assert message.external_id.startswith("<") and message.external_id.endswith(">")
    assert message.received_at.tzinfo is not None
    assert "@" in message.sender.value
    assert not any(d.startswith("ParseError") for d in message.defects), message.defects


@pytest.mark.parametrize("row", _expected_rows(), ids=[row["file"] for row in _expected_rows()])
def test_corpus_message_matches_expected_result(row: dict[str, str]) -> None:
    mismatches = _mismatches(row)
    unexplained = {f: v for f, v in mismatches.items() if (row["file"], f) not in ALLOWED_DIFFERENCES}
    assert not unexplained, unexplained


def test_allow_list_has_no_stale_entries() -> None:
    """Every allowed difference must still be a difference, or the entry is hiding nothing."""
    rows = {row["file"]: row for row in _expected_rows()}
    stale = [key for key in ALLOWED_DIFFERENCES if key[1] not in _mismatches(rows[key[0]])]
    assert not stale


def test_expected_results_match_rate_is_reported_and_high() -> None:
    rows = _expected_rows()
    fields = total = 0
    clean_messages = 0
    for row in rows:
        mismatches = _mismatches(row)
        clean_messages += not mismatches
        compared = 1 if row["expected_file"].endswith("_reply_text") else 4
        total += compared
        fields += compared - len(mismatches)
    rate = fields / total
    print(f"\nexpected-result match: {clean_messages}/{len(rows)} messages fully, "
          f"{fields}/{total} fields ({rate:.1%}); {len(ALLOWED_DIFFERENCES)} allowed differences")
    assert len(rows) >= 120
    assert rate >= 0.9


def test_zammad_smime_signed_content_is_read_as_body() -> None:
    for row in ROWS:
        if not row["file"].startswith("zammad/smime/"):
            continue
        body_file = next(p for p in row["expected_file"].split(";") if p.endswith(".body.txt"))
        expected = (CORPUS / body_file).read_bytes().decode("utf-8", "replace")
        message = _parsed(row["file"])
        assert _norm(message.full_text)[:80] in _norm(expected) or _norm(expected)[:80] in _norm(message.full_text)
        assert any(a.filename.startswith("smime.p7") for a in message.attachments)


def test_whole_corpus_parses_quickly() -> None:
    started = time.perf_counter()
    for row in ROWS:
        try:
            parse((CORPUS / row["file"]).read_bytes())
        except UnreadablePayload:
            assert row["file"] in NOT_MAIL
    elapsed = time.perf_counter() - started
    print(f"\nparsed {len(ROWS)} corpus messages in {elapsed:.2f}s")
    assert elapsed < 10



@pytest.mark.parametrize(("name", "machine_reply"), [
    ("chatwoot/auto_reply.eml", "auto-reply"),  # X-Autoreply
    ("chatwoot/non_utf_encoded_mail.eml", "auto-reply"),  # Auto-Submitted: auto-replied
    ("chatwoot/auto_reply_with_auto_submitted.eml", None),  # auto-generated: a notification, not a reply
    ("chatwoot/bounced_gmail.eml", "bounce"),
    ("zammad/mail055.box", "bounce"),  # a DSN that also says auto-replied and X-Auto-Response-Suppress
    ("zammad/mail052.box", "bounce"),  # no original Message-ID found
    ("flanker/disposition-notification.eml", "receipt"),
    ("james/jmap-it/mdn_simple.eml", "receipt"),
    ("james/mailbox-store/mail.eml", None),  # mailing list
    ("james/mailbox-store/mail1.eml", None),  # Jira notification, Precedence: bulk
    ("flanker/complaints/aol.eml", None),  # abuse feedback report (ARF)
])
def test_corpus_machine_replies_are_recognised(name: str, machine_reply: str | None) -> None:
    message = _parsed(name)
    assert message.machine_reply == machine_reply
    assert message.auto_generated is True


def test_tnef_winmail_dat_is_unpacked_to_its_files() -> None:
    message = _parsed("mimekit/tnef/rich-text.eml")
    names = [a.filename for a in message.attachments]
    assert "kitten-playing-with-a-christmas-tree.jpg" in names
    assert "winmail.dat" not in names


def test_tnef_that_cannot_be_unpacked_is_kept_whole() -> None:
    message = _parsed("zbateson-mail-mime-parser/m4006.txt")
    assert "winmail.dat" in [a.filename for a in message.attachments]
    assert any(d.startswith("Tnef") for d in message.defects)
