"""The service's copy of each rule (service/rules.py) accepts exactly what the database's rule
accepts (db/functions/05_rules.sql): checked on the boundary cases and on generated text."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service import rules
from service.config import Settings
from service.http.app import create_litestar

EDGES = [
    "",
    "a",
    "user-rich-001",
    "tap.Topup_4:x@y-Z9",
    "a" * 128,
    "a" * 129,
    "k" * 255,
    "k" * 256,
    " ",
    " leading space",
    "~!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}",
    "tab\there",
    "newline\n",
    "\n",
    "ü",
    "٣",
    "²",
    "café",
    "emoji🙂",
    "\x7f",
]
TEXT = st.one_of(
    st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x17F), max_size=300),
    st.text(alphabet="Aa0._:@- ~\x1f\x7f", min_size=120, max_size=260),
)
SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # no .hypothesis/ in the checkout: a failure prints its shrunk example
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


RULES = [("_valid_user_id", rules.is_user_id), ("_valid_idempotency_key", rules.is_idempotency_key)]


async def agree(
    conn: asyncpg.Connection, function: str, python: Callable[[str], bool], text: str
) -> None:
    in_sql = await conn.fetchval(f"SELECT ledger.{function}($1)", text)
    assert in_sql is python(text), (function, text)


@pytest.mark.parametrize("text", EDGES)
@pytest.mark.parametrize(("function", "python"), RULES)
async def test_each_rule_is_the_databases_on_edges(
    admin_conn: asyncpg.Connection, function: str, python: Callable[[str], bool], text: str
) -> None:
    await agree(admin_conn, function, python, text)


@pytest.mark.parametrize(("function", "python"), RULES)
@SETTINGS
@given(text=TEXT)
async def test_each_rule_is_the_databases_on_generated_text(
    admin_conn: asyncpg.Connection, function: str, python: Callable[[str], bool], text: str
) -> None:
    await agree(admin_conn, function, python, text)


async def test_null_is_neither_a_user_id_nor_a_key(admin_conn: asyncpg.Connection) -> None:
    row = await admin_conn.fetchrow(
        "SELECT ledger._valid_user_id(NULL) AS user_id, ledger._valid_idempotency_key(NULL) AS key"
    )
    assert row is not None and (row["user_id"], row["key"]) == (False, False)


async def test_limits_and_scopes_are_the_databases(admin_conn: asyncpg.Connection) -> None:
    row = await admin_conn.fetchrow(
        "SELECT ledger._description_max_length() AS description,"
        " ledger._metadata_max_bytes() AS metadata,"
        " ledger._page_limit_default() AS page_default, ledger._page_limit_max() AS page_max,"
        " ledger._api_scopes() AS scopes"
    )
    assert row is not None
    assert row["description"] == rules.DESCRIPTION_MAX_LENGTH
    assert row["metadata"] == rules.METADATA_MAX_BYTES
    assert (row["page_default"], row["page_max"]) == (
        rules.PAGE_LIMIT_DEFAULT,
        rules.PAGE_LIMIT_MAX,
    )
    assert sorted(row["scopes"]) == sorted(rules.SCOPES)


def test_every_api_route_needs_a_scope_an_api_key_can_hold(settings: Settings) -> None:
    app = create_litestar(settings)
    needed = {
        handler.opt.get("scope")
        for route in app.routes
        if route.path.startswith("/api/v1/")
        for handler in route.route_handlers  # type: ignore[union-attr]
        if "OPTIONS" not in handler.http_methods  # Litestar's own OPTIONS answer
    }
    # wallet:audit is no route's: the ledger route asks for it once it knows the wallet is a
    # system account's (test_system_account_ledgers_need_the_audit_scope)
    assert needed == set(rules.SCOPES) - {rules.SCOPE_AUDIT}
