"""The OpenAPI document's settings, and the problems each route declares, described from the
error catalogue (db/errors.tsv) so that the document says what the catalogue says."""

from __future__ import annotations

from itertools import groupby

from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme

from service.catalogue import CATALOGUE
from service.problems import PROBLEM_MEDIA_TYPE, Problem

# What every /api/v1 route may answer: its guard, the rate limits, the database being away.
API_PROBLEMS = ("unauthenticated", "forbidden", "rate_limited", "service_unavailable")


def problem_responses(*codes: str) -> dict[int, ResponseSpec]:
    """{status: ResponseSpec} for the problems a route answers, each status described by its
    codes and their meanings in the catalogue."""
    entries = sorted((CATALOGUE[code] for code in codes), key=lambda entry: entry.status or 0)
    return {
        status: ResponseSpec(
            data_container=Problem,
            description="; ".join(f"{entry.code}: {entry.meaning}" for entry in same_status),
            media_type=PROBLEM_MEDIA_TYPE,
            generate_examples=False,
        )
        for status, same_status in groupby(entries, key=lambda entry: entry.status or 0)
    }


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Wallet Service",
        version="1.0.0",
        description="Double-entry wallets for virtual currencies. Every error is an RFC 9457 "
        "problem (application/problem+json) with a stable `code`; see docs/http-api.md.",
        path="/schema",
        components=Components(
            security_schemes={
                "apiKey": SecurityScheme(
                    type="http", scheme="bearer", description="an API key from `wallet keys create`"
                )
            }
        ),
        security=[{"apiKey": []}],
    )
