"""The ``users`` commands against the test database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from app import cli
from geo.db import transaction
from geo.models import User
from geo.users import authenticate
from tests.builders import add_street, unique


@pytest.fixture
def env(engine: Engine) -> dict[str, str]:
    return {"DATABASE_URL": engine.url.render_as_string(hide_password=False)}


def test_create_from_stdin_and_list(env: dict[str, str], sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        street = add_street(s, unique("用户街道"), lon=122.2, lat=31.5)  # far from other tests
    name = unique("team")
    result = CliRunner().invoke(cli, ["users", "create", name, "--role", "street", "--street", street.name,
                                      "--password-stdin"], input="s3cret-pass\n", env=env)
    assert result.exit_code == 0, result.output
    assert f"created user {name} (street, {street.name})" in result.output
    with sessions() as s:
        assert authenticate(s, name, "s3cret-pass") is not None
        assert authenticate(s, name, "wrong-pass") is None
        assert s.scalar(select(User.street_id).where(User.username == name)) == street.id
    listing = CliRunner().invoke(cli, ["users", "list"], env=env)
    assert listing.exit_code == 0
    assert f"{name}\tstreet\t{street.name}\tactive" in listing.output


def test_create_asks_twice(env: dict[str, str], sessions: sessionmaker[Session]) -> None:
    name = unique("office")
    result = CliRunner().invoke(cli, ["users", "create", name, "--role", "office"],
                                input="first-pass1\nother-pass2\nfirst-pass1\nfirst-pass1\n", env=env)
    assert result.exit_code == 0, result.output
    assert "do not match" in result.output
    with sessions() as s:
        assert authenticate(s, name, "first-pass1") is not None


@pytest.mark.parametrize(("args", "stdin", "message"), [
    (["--role", "admin"], "short\n", "password: must be at least 8 characters"),
    (["--role", "street"], "long-enough\n", "street: a street user needs --street"),
    (["--role", "street", "--street", "没有这个街道"], "long-enough\n", "no street or town named '没有这个街道'"),
])
def test_bad_requests_fail_and_create_nothing(args: list[str], stdin: str, message: str, env: dict[str, str],
                                              sessions: sessionmaker[Session]) -> None:
    name = unique("bad")
    result = CliRunner().invoke(cli, ["users", "create", name, *args, "--password-stdin"], input=stdin, env=env)
    assert result.exit_code == 1
    assert message in result.output
    with sessions() as s:
        assert s.scalar(select(User.id).where(User.username == name)) is None


def test_duplicate_name_refused(env: dict[str, str]) -> None:
    name = unique("dup")
    args = ["users", "create", name, "--role", "viewer", "--password-stdin"]
    assert CliRunner().invoke(cli, args, input="viewer-pass\n", env=env).exit_code == 0
    again = CliRunner().invoke(cli, args, input="viewer-pass\n", env=env)
    assert again.exit_code == 1 and "already exists" in again.output
