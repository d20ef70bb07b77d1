"""A PostgreSQL password never reaches the screen or a report, in any form the drivers accept:
after the user name (percent-encoded, or raw with `@` and `:`), with an empty user name, or in the
query string."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

from hpsearch.engine.storage import display
from tests.cli.test_cli import assert_one_line_error, invoke
from tests.conftest import require
from tests.postgres import PostgresServer, postgres_server

PASSWORD = "p@ss:w%rd/'\"x"  # every character a URL or a shell would trip on
USER, DATABASE = "analyst", "secrets"


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    require("postgresql")
    with postgres_server() as running:
        with psycopg.connect(running.superuser_url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(USER), sql.Literal(PASSWORD)))
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(USER)))
        yield running


def forms(secret: str) -> list[str]:
    return [secret, quote(secret, safe=""), quote(secret)]


def assert_hidden(text: str) -> None:
    for form in forms(PASSWORD) + forms("wrong-" + PASSWORD):
        assert form not in text


def urls(server: PostgresServer) -> dict[str, str]:
    where = f"{server.host}:{server.port}/{DATABASE}"
    return {
        "encoded": f"postgresql://{USER}:{quote(PASSWORD, safe='')}@{where}",
        "raw": f"postgresql://{USER}:{PASSWORD}@{where}",
        "query": f"postgresql://{USER}@{where}?password={quote(PASSWORD, safe='')}",
    }


@pytest.mark.parametrize("form", ["encoded", "raw", "query"])
def test_the_password_is_masked_in_messages_and_every_report(server: PostgresServer, workdir: Path,
                                                             form: str) -> None:
    url = urls(server)[form]
    code, output = invoke("tune", "--task", "classification", "--n-trials", "1", "--epochs", "1",
                          "--storage", url, "--study", f"masked-{form}")
    assert code == 0, output
    assert f"results: {display(url)}" in output and "***" in display(url)
    assert_hidden(output)
    for fmt in ("md", "json"):
        code, output = invoke("report", "--storage", url, "--out", f"{form}.html", "--format", fmt)
        assert code == 0, output
        assert_hidden(output)
        assert_hidden(Path(f"{form}.{fmt}").read_text())
    assert_hidden(Path(f"{form}.html").read_text())
    assert "***" in json.loads(Path(f"{form}.json").read_text())["storage"]


@pytest.mark.parametrize("url", [
    "postgresql://:{pw}@{host}:{port}/{db}",  # an empty user name
    "postgresql://{user}:wrong-{pw}@{host}:{port}/{db}",  # raw, and refused by the server
    "postgresql://{user}@{host}:{port}/{db}?sslmode=disable&password=wrong-{pw_encoded}",
    "postgresql://{user}:wrong-{pw_encoded}@{host}:1/{db}",  # nothing listens there
])
def test_the_password_is_masked_in_errors(server: PostgresServer, workdir: Path, url: str) -> None:
    url = url.format(pw=PASSWORD, pw_encoded=quote("wrong-" + PASSWORD, safe="")[len("wrong-"):],
                     user=USER, host=server.host, port=server.port, db=DATABASE)
    code, output = invoke("studies", "--storage", url)
    assert_one_line_error(code, output, 2, "cannot open storage", "***")
    assert_hidden(output)
