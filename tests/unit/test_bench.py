"""The ingest benchmark's synthetic mail has the advertised shape; the command is wired."""
from __future__ import annotations

from click.testing import CliRunner

from helpdesk.tools.bench import ATTACHMENT_BYTES, synthetic_messages
from helpdesk.cli import cli


def test_synthetic_mail_is_70_percent_new_30_percent_replies_10_percent_attachments():
    messages = list(synthetic_messages(2000, customers=300, concurrency=4))
    replies = [m for m in messages if m.thread_keys.in_reply_to]
    with_files = [m for m in messages if m.attachments]
    assert 0.25 < len(replies) / len(messages) < 0.35
    assert len(with_files) == 200 and all(len(m.attachments[0].data) == ATTACHMENT_BYTES for m in with_files)
    assert len({m.attachments[0].data for m in with_files}) == 200  # distinct files, really stored
    position = {m.external_id: i for i, m in enumerate(messages)}
    assert all(position[m.thread_keys.in_reply_to] < position[m.external_id] - 8 for m in replies)
    assert len({m.sender.value.lower() for m in messages}) <= 300


def test_bench_ingest_command_is_registered():
    result = CliRunner().invoke(cli, ["bench", "ingest", "--help"])
    assert result.exit_code == 0 and "--database" in result.output and "--pg-url" in result.output
