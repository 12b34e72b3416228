"""The error catalogue (db/errors.tsv) is the one source of every error code: the SQL functions
raise exactly its SQLSTATEs, the service makes problems only of its codes, and the OpenAPI
document, docs/sql-api.md and docs/http-api.md say what it says. A code added in SQL or in the
service without its documentation fails here."""

from __future__ import annotations

import re
from typing import Any

import pytest

from service.catalogue import BY_SQLSTATE, CATALOGUE
from service.config import load_settings
from service.http.app import create_litestar
from service.problems import PROBLEM_MEDIA_TYPE
from tests.support import ROOT

# HTTP-only codes no route declares: the framework's own answers, and the one for bugs
UNDECLARED = {"not_found", "method_not_allowed", "internal_error"}


def table(doc: str, heading: str, header: str) -> list[list[str]]:
    """The cells (backticks stripped) of the table starting with `header` in section `heading`
    of docs/`doc`."""
    text = (ROOT / "docs" / doc).read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = section[section.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip().replace("`", "") for cell in line.strip("|").split("|")])
    return rows


def openapi_problems() -> dict[tuple[str, str], dict[int, str]]:
    """{(method, path): {status: description}} of every problem response the document declares."""
    document: dict[str, Any] = create_litestar(load_settings()).openapi_schema.to_schema()
    found: dict[tuple[str, str], dict[int, str]] = {}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation.get("responses", {}).items():
                if PROBLEM_MEDIA_TYPE in response.get("content", {}):
                    found.setdefault((method, path), {})[int(status)] = response["description"]
    return found


def test_every_sqlstate_raised_in_db_is_in_the_catalogue_and_vice_versa() -> None:
    raised: set[str] = set()
    for path in (ROOT / "db").rglob("*.sql"):
        raised |= set(re.findall(r"ERRCODE = '([0-9A-Z]{5})'", path.read_text()))
    raised = {code for code in raised if not code[:2].isdigit()}  # PostgreSQL's own, e.g. 23514
    assert raised == set(BY_SQLSTATE)


def test_our_sqlstates_follow_postgresql_rules_for_custom_states() -> None:
    for code in BY_SQLSTATE:  # docs/sql-api.md, db/CONVENTIONS.md
        assert len(code) == 5 and code.isalnum() and code.isupper(), code
        assert code[0] not in "FHPX0123456789" and code[2] not in "0P" and code[3].isalpha()
        assert not code.endswith("000")


def test_every_problem_the_service_makes_is_in_the_catalogue() -> None:
    made: set[str] = set()
    for path in (ROOT / "service").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        made |= set(re.findall(r'ProblemError\(\s*"([a-z_]+)"', text))
        made |= set(re.findall(r'^\s+\d{3}: "([a-z_]+)",$', text, re.MULTILINE))  # by status
    assert made, "no problem found: the pattern no longer matches the code"
    assert made - set(CATALOGUE) == set()


def test_sql_api_doc_lists_every_sqlstate_with_its_code() -> None:
    rows = table("sql-api.md", "Errors", "| SQLSTATE | code | when |")
    documented = {(sqlstate, code) for sqlstate, code, *_ in rows}
    assert len(documented) == len(rows), "a SQLSTATE is listed twice"
    assert documented == {(entry.sqlstate, entry.code) for entry in BY_SQLSTATE.values()}


def test_openapi_problems_are_described_by_the_catalogue() -> None:
    problems = openapi_problems()
    assert problems, "the document declares no problem at all"
    for operation, by_status in problems.items():
        for status, description in by_status.items():
            for part in description.split("; "):
                code, _, meaning = part.partition(": ")
                entry = CATALOGUE[code]
                assert (entry.status, entry.meaning) == (status, meaning), (operation, part)


def test_http_api_doc_lists_every_problem_the_api_answers_with_its_status() -> None:
    rows = table("http-api.md", "Errors", "| status | code | when |")
    documented = {
        (int(status), code.strip()) for status, codes, _ in rows for code in codes.split(",")
    }
    for status, code in documented:
        assert CATALOGUE[code].status == status, (status, code)
    declared = {
        part.partition(": ")[0]
        for by_status in openapi_problems().values()
        for description in by_status.values()
        for part in description.split("; ")
    }
    assert {code for _, code in documented} == declared | UNDECLARED


@pytest.mark.parametrize("code", sorted(UNDECLARED))
def test_undeclared_problems_are_http_only_entries(code: str) -> None:
    assert CATALOGUE[code].sqlstate is None and CATALOGUE[code].status is not None


def test_meanings_can_be_joined_and_split_again() -> None:
    """A route's problems of one status are described as "code: meaning; code: meaning"."""
    for entry in CATALOGUE.values():
        assert "; " not in entry.meaning and entry.meaning.strip() == entry.meaning, entry
