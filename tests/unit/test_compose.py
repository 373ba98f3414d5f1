"""compose.yaml cannot run here (no Docker engine): check its structure and that every command exists."""
from __future__ import annotations

import json
import re
from pathlib import Path

import click
import yaml

from helpdesk.cli import cli

ROOT = Path(__file__).resolve().parents[2]


def resolve(args: list[str]) -> click.Command:
    """Walk the click tree the way the shell would and parse the options, without running anything."""
    assert args[0] == "helpdesk", args
    command: click.Command = cli
    rest = args[1:]
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(click.Context(command), rest[0])
        assert sub is not None, f"`{' '.join(args)}`: no command {rest[0]!r}"
        command, rest = sub, rest[1:]
    command.make_context(command.name, list(rest))  # raises on unknown options
    return command


def test_compose_has_every_production_service():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "web", "worker", "scheduler", "migrate"} <= set(services)
    for name in ("web", "worker", "scheduler", "migrate"):
        env = services[name]["environment"]
        assert env["HELPDESK_DATABASE_URL"].startswith("postgresql://")
        assert env["HELPDESK_BROKER_URL"].startswith("redis://")
        assert "HELPDESK_REDIS_URL" in env and "HELPDESK_SECRET_KEY" in env
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert "ports" not in services["worker"]


def test_every_compose_command_is_a_real_cli_command():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    commands = {name: svc["command"] for name, svc in compose["services"].items() if "command" in svc
                and svc["command"][0] == "helpdesk"}
    assert set(commands) == {"web", "worker", "scheduler", "migrate"}
    resolved = {name: resolve(args).name for name, args in commands.items()}
    assert resolved == {"web": "serve", "worker": "worker", "scheduler": "scheduler", "migrate": "upgrade"}


def test_dockerfile_default_command_is_a_real_cli_command():
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert resolve(cmd).name == "serve"
    for folder in ("helpdesk", "channels", "workers", "templates"):
        assert f"COPY {folder} " in dockerfile


def test_unknown_command_is_caught_by_the_check():
    import pytest

    with pytest.raises(AssertionError):
        resolve(["helpdesk", "no-such-command"])
    with pytest.raises(click.UsageError):
        resolve(["helpdesk", "serve", "--no-such-option"])
