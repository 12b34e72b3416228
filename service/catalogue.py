"""The error catalogue, db/errors.tsv: every code the SQL functions raise (by its SQLSTATE) or the
HTTP API answers, with its HTTP status and its meaning. service/ledger.py names the ledger's
errors by it, service/problems.py takes their statuses from it, and tests/docs/ checks the docs'
error tables and the OpenAPI document against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from service import db_dir


@dataclass(frozen=True, slots=True)
class CatalogueEntry:
    code: str
    sqlstate: str | None  # None: answered by the HTTP layer only
    status: int | None  # None: the HTTP framework's own status (http_error)
    meaning: str


def read_catalogue() -> dict[str, CatalogueEntry]:
    """db/errors.tsv by code: sqlstate, code, HTTP status and meaning, tab-separated ("-" for
    none); # lines are comments."""
    entries: dict[str, CatalogueEntry] = {}
    for line in (db_dir() / "errors.tsv").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        sqlstate, code, status, meaning = line.split("\t")
        entries[code] = CatalogueEntry(
            code,
            None if sqlstate == "-" else sqlstate,
            None if status == "-" else int(status),
            meaning,
        )
    return entries


CATALOGUE: Mapping[str, CatalogueEntry] = MappingProxyType(read_catalogue())
BY_SQLSTATE: Mapping[str, CatalogueEntry] = MappingProxyType(
    {entry.sqlstate: entry for entry in CATALOGUE.values() if entry.sqlstate is not None}
)
