"""The console's sessions and forms (service/console/): what a forged, stolen-then-ended, expired
or revoked session gets, forms without their CSRF token, the key never shown, scopes deciding the
pages, and a refund made once per form with its operator recorded. In process against the real
PostgreSQL and Redis; tests/console/ drives the same pages in a real browser."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import re
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis

from service.config import Settings
from service.console.sessions import SESSION_COOKIE, SIGN_IN_COOKIE, Sessions
from service.keys import revoke_key
from tests.support import GOLD, bearer, money, running_app, wait_until

CONSOLE = "/console"
_HIDDEN = re.compile(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"')


def console_client(
    settings: Settings, **overrides: Any
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    """The app in process, reached over https (so its cookies are Secure and sent back, as a
    browser would), never following redirects: each test looks at them."""
    return running_app(settings, base_url="https://wallet.test", **overrides)


def hidden_fields(html: str) -> dict[str, str]:
    """The hidden inputs of a page (the last of each name wins: the page's main form)."""
    return dict(_HIDDEN.findall(html))


async def sign_in(client: httpx.AsyncClient, key: str) -> httpx.Response:
    page = await client.get(f"{CONSOLE}/sign-in")
    assert page.status_code == 200, page.text
    token = hidden_fields(page.text)["csrf_token"]
    return await client.post(f"{CONSOLE}/sign-in", data={"api_key": key, "csrf_token": token})


async def signed_in(client: httpx.AsyncClient, key: str) -> str:
    """Signs in; the session's CSRF token."""
    response = await sign_in(client, key)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"{CONSOLE}/players"
    page = await client.get(f"{CONSOLE}/players")
    assert page.status_code == 200, page.text
    return hidden_fields(page.text)["csrf_token"]


def assert_sent_to_sign_in(response: httpx.Response, ended: str | None = None) -> None:
    assert response.status_code == 303, response.text
    expected = f"{CONSOLE}/sign-in" + (f"?ended={ended}" if ended else "")
    assert response.headers["location"] == expected


def redis_key_of(cookie: str) -> str:
    session_id = cookie.rpartition(".")[0]
    return "wallet:console:session:" + hashlib.sha256(session_id.encode()).hexdigest()


async def topped_up(client: httpx.AsyncClient, key: str, user: str, amount: str) -> str:
    body = {"userId": user, "assetTypeId": GOLD, "amount": amount}
    response = await client.post("/api/v1/wallet/topup", json=body, headers=money(key))
    assert response.status_code == 201, response.text
    transaction_id: str = response.json()["transactionId"]
    return transaction_id


@pytest.fixture
def operator_key(new_key: Callable[..., str]) -> str:
    return new_key()


# -- cookies and the key --------------------------------------------------------------------------


async def test_sign_in_gives_a_strict_httponly_secure_session_cookie_and_never_the_key(
    settings: Settings, operator_key: str, unique: str
) -> None:
    async with console_client(settings) as client:
        response = await sign_in(client, operator_key)
        assert response.status_code == 303, response.text
        cookies = response.headers.get_list("set-cookie")
        session_cookie = next(c for c in cookies if c.startswith(f"{SESSION_COOKIE}="))
        attributes = {part.strip().split("=")[0].lower() for part in session_cookie.split(";")}
        assert {"httponly", "secure", "samesite", "path"} <= attributes
        assert "samesite=strict" in session_cookie.lower()
        assert "path=/console" in session_cookie.lower()
        assert "max-age" not in attributes  # a browser session's cookie; the server ends it
        assert operator_key not in session_cookie
        # the sign-in form's cookie is spent
        assert any(c.startswith(f"{SIGN_IN_COOKIE}=") and "Max-Age=0" in c for c in cookies)

        user = f"console-{unique}"
        transaction_id = await topped_up(client, operator_key, user, "12.50")
        pages = [
            f"{CONSOLE}/players",
            f"{CONSOLE}/players/{user}",
            f"{CONSOLE}/transactions/{transaction_id}",
            f"{CONSOLE}/books?run=1",
        ]
        form_key = uuid.uuid4().hex
        pages.append(
            f"{CONSOLE}/transactions/{transaction_id}/refund?form_key={form_key}&amount=1"
            "&reason=check&mode=strict"
        )
        for path in pages:
            page = await client.get(path)
            assert page.status_code == 200, (path, page.text)
            assert operator_key not in page.text, path
            assert operator_key not in str(page.headers), path
            # no script of any kind, no inline style: the CSP allows neither
            assert "<script" not in page.text.lower(), path
            assert " style=" not in page.text.lower(), path
            policy = page.headers["content-security-policy"]
            assert "default-src 'none'" in policy
            assert "script-src" not in policy  # default-src 'none': no script at all
            assert "form-action 'self'" in policy
            assert page.headers["x-frame-options"] == "DENY"


async def test_a_forged_or_unknown_session_cookie_is_refused(
    settings: Settings, operator_key: str
) -> None:
    async with console_client(settings) as client:
        await signed_in(client, operator_key)
        genuine = client.cookies.get(SESSION_COOKIE, path=CONSOLE)
        assert genuine
        session_id, _, signature = genuine.rpartition(".")
        forgeries = [
            f"{session_id}.{signature[:-2]}AA",  # the signature altered
            f"{session_id}x.{signature}",  # another id under the genuine signature
            f"{uuid.uuid4().hex}.{signature}",
            session_id,  # no signature at all
            "",
        ]
        for forged in forgeries:
            client.cookies.clear()
            client.cookies.set(SESSION_COOKIE, forged, domain="wallet.test", path=CONSOLE)
            response = await client.get(f"{CONSOLE}/players")
            assert response.status_code == 303, forged
            assert response.headers["location"].startswith(f"{CONSOLE}/sign-in"), forged
        # the genuine one still works: the refusals were not luck
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, genuine, domain="wallet.test", path=CONSOLE)
        assert (await client.get(f"{CONSOLE}/players")).status_code == 200


async def test_a_session_signed_with_another_secret_is_refused(
    settings: Settings, operator_key: str
) -> None:
    other_secret = "o" * 40
    async with console_client(settings, console_secret=other_secret) as other:
        await signed_in(other, operator_key)
        theirs = other.cookies.get(SESSION_COOKIE, path=CONSOLE)
    async with console_client(settings, console_secret="m" * 40) as client:
        client.cookies.set(SESSION_COOKIE, theirs or "", domain="wallet.test", path=CONSOLE)
        assert_sent_to_sign_in(await client.get(f"{CONSOLE}/players"), "ended")


async def test_an_idle_session_expires_and_each_request_pushes_the_expiry_back(
    settings: Settings, operator_key: str, redis_client: Redis
) -> None:
    async with console_client(settings, console_idle_minutes=2) as client:
        await signed_in(client, operator_key)
        cookie = client.cookies.get(SESSION_COOKIE, path=CONSOLE) or ""
        key = redis_key_of(cookie)
        assert 110 <= await redis_client.ttl(key) <= 120  # the idle time, 2 minutes
        await redis_client.expire(key, 5)
        assert (await client.get(f"{CONSOLE}/players")).status_code == 200
        assert await redis_client.ttl(key) > 100  # a request: the idle time again
        # idle past the expiry (Redis ends it, as after 2 minutes without a request)
        await redis_client.pexpire(key, 1)
        await asyncio.sleep(0.01)
        assert_sent_to_sign_in(await client.get(f"{CONSOLE}/players"), "ended")
        assert SESSION_COOKIE not in client.cookies  # and the browser is told to forget it


async def test_a_session_ends_twelve_hours_after_sign_in_however_active(
    settings: Settings, operator_key: str, redis_client: Redis
) -> None:
    async with console_client(settings) as client:
        await signed_in(client, operator_key)
        key = redis_key_of(client.cookies.get(SESSION_COOKIE, path=CONSOLE) or "")
        record = json.loads(await redis_client.get(key) or b"{}")
        record["started"] -= 12 * 3600 + 1
        await redis_client.set(key, json.dumps(record), keepttl=True)
        assert_sent_to_sign_in(await client.get(f"{CONSOLE}/players"), "ended")
        assert await redis_client.exists(key) == 0


async def test_sign_out_ends_the_session_at_once_even_for_a_copied_cookie(
    settings: Settings, operator_key: str
) -> None:
    async with console_client(settings) as client:
        token = await signed_in(client, operator_key)
        copied = client.cookies.get(SESSION_COOKIE, path=CONSOLE) or ""
        response = await client.post(f"{CONSOLE}/sign-out", data={"csrf_token": token})
        assert_sent_to_sign_in(response, "signed-out")
        client.cookies.set(SESSION_COOKIE, copied, domain="wallet.test", path=CONSOLE)
        assert_sent_to_sign_in(await client.get(f"{CONSOLE}/players"), "ended")


async def test_a_revoked_key_ends_its_sessions(
    settings: Settings, new_key: Callable[..., str], unique: str
) -> None:
    name = f"console-revoked-{unique}"
    key = new_key(name=name)
    async with console_client(settings) as client:
        await signed_in(client, key)
        revoke_key(settings.admin_database_url, name)

        async def refused() -> bool:
            response = await client.get(f"{CONSOLE}/players")
            return response.status_code == 303

        await wait_until(refused, 10, "the revoked key's session ended")
        # once refused, the session is gone for good: signing in with the key fails too
        response = await sign_in(client, key)
        assert response.status_code == 401
        assert "not valid" in response.text


# -- forms ----------------------------------------------------------------------------------------


async def test_sign_in_without_its_form_token_or_cookie_is_refused(
    settings: Settings, operator_key: str
) -> None:
    async with console_client(settings) as client:
        page = await client.get(f"{CONSOLE}/sign-in")
        token = hidden_fields(page.text)["csrf_token"]
        for data in ({"api_key": operator_key}, {"api_key": operator_key, "csrf_token": "x"}):
            response = await client.post(f"{CONSOLE}/sign-in", data=data)
            assert response.status_code == 403, data
            assert f"{SESSION_COOKIE}=" not in response.headers.get("set-cookie", "")
        # the right token, but not the cookie it pairs with (a page another site loaded)
        client.cookies.clear()
        response = await client.post(
            f"{CONSOLE}/sign-in", data={"api_key": operator_key, "csrf_token": token}
        )
        assert response.status_code == 403
        assert operator_key not in response.text


async def test_a_wrong_key_is_refused_with_the_form_again(settings: Settings) -> None:
    async with console_client(settings) as client:
        response = await sign_in(client, "wk_not-a-key")
        assert response.status_code == 401
        assert 'role="alert"' in response.text and "not valid" in response.text
        assert "wk_not-a-key" not in response.text
        assert f"{SESSION_COOKIE}=" not in response.headers.get("set-cookie", "")


async def test_posts_without_the_session_token_change_nothing(
    settings: Settings, operator_key: str, unique: str, service_conn: asyncpg.Connection
) -> None:
    user = f"console-csrf-{unique}"
    async with console_client(settings) as client:
        token = await signed_in(client, operator_key)
        transaction_id = await topped_up(client, operator_key, user, "10.00")
        refund = {
            "form_key": uuid.uuid4().hex,
            "amount": "4.00",
            "reason": "forged",
            "mode": "strict",
        }
        for data in (refund, {**refund, "csrf_token": "not-the-token"}):
            response = await client.post(
                f"{CONSOLE}/transactions/{transaction_id}/refund", data=data
            )
            assert response.status_code == 403, response.text
        response = await client.post(f"{CONSOLE}/sign-out", data={})
        assert response.status_code == 403
        # nothing happened: no reversal, and the session still works
        record = await service_conn.fetchrow(
            "SELECT reversals FROM api.get_transaction($1)", int(transaction_id)
        )
        assert record is not None and not record["reversals"]
        assert (await client.get(f"{CONSOLE}/players")).status_code == 200
        # the same refund with the token goes through: the refusals were the token's
        response = await client.post(
            f"{CONSOLE}/transactions/{transaction_id}/refund", data={**refund, "csrf_token": token}
        )
        assert response.status_code == 303, response.text


# -- scopes ---------------------------------------------------------------------------------------


async def test_a_read_only_key_sees_no_refund_nor_books_and_cannot_reach_them(
    settings: Settings, new_key: Callable[..., str], operator_key: str, unique: str
) -> None:
    reader = new_key(["wallet:read"])
    user = f"console-reader-{unique}"
    async with console_client(settings) as client:
        transaction_id = await topped_up(client, operator_key, user, "9.00")
        token = await signed_in(client, reader)
        page = await client.get(f"{CONSOLE}/transactions/{transaction_id}")
        assert page.status_code == 200
        assert 'id="legs"' in page.text
        assert 'id="refund"' not in page.text
        assert 'href="/console/books"' not in page.text
        form_key = uuid.uuid4().hex
        review = await client.get(
            f"{CONSOLE}/transactions/{transaction_id}/refund",
            params={"form_key": form_key, "reason": "x", "mode": "strict"},
        )
        assert review.status_code == 403
        assert "wallet:refund" in review.text
        posted = await client.post(
            f"{CONSOLE}/transactions/{transaction_id}/refund",
            data={"csrf_token": token, "form_key": form_key, "reason": "x", "mode": "strict"},
        )
        assert posted.status_code == 403
        assert (await client.get(f"{CONSOLE}/books")).status_code == 403
        balance = await client.get(
            f"/api/v1/wallet/{user}/balance", params={"assetTypeId": GOLD}, headers=bearer(reader)
        )
        assert balance.json()["balances"][0]["balance"] == "9.00"  # nothing was refunded


async def test_a_key_without_wallet_read_cannot_sign_in(
    settings: Settings, new_key: Callable[..., str]
) -> None:
    key = new_key(["wallet:topup"])  # before the app starts: its key ring has it
    async with console_client(settings) as client:
        response = await sign_in(client, key)
        assert response.status_code == 403
        assert "wallet:read" in response.text


# -- the refund -----------------------------------------------------------------------------------


async def test_a_refund_form_submitted_twice_refunds_once_with_its_operator_recorded(
    settings: Settings,
    new_key: Callable[..., str],
    unique: str,
    service_conn: asyncpg.Connection,
) -> None:
    name = f"support-{unique}"
    key = new_key(name=name)
    user = f"console-refund-{unique}"
    async with console_client(settings) as client:
        transaction_id = await topped_up(client, key, user, "20.00")
        await signed_in(client, key)
        page = await client.get(f"{CONSOLE}/transactions/{transaction_id}")
        form_key = hidden_fields(page.text)["form_key"]
        query = {"form_key": form_key, "amount": "7.25", "reason": "Order 42", "mode": "strict"}
        review = await client.get(f"{CONSOLE}/transactions/{transaction_id}/refund", params=query)
        assert review.status_code == 200, review.text
        assert re.search(r'class="num before">20\.00<', review.text)
        assert re.search(r'class="num after">12\.75<', review.text)
        confirm = hidden_fields(review.text)
        assert confirm["form_key"] == form_key
        first = await client.post(f"{CONSOLE}/transactions/{transaction_id}/refund", data=confirm)
        again = await client.post(f"{CONSOLE}/transactions/{transaction_id}/refund", data=confirm)
        assert first.status_code == again.status_code == 303
        assert first.headers["location"] == again.headers["location"]
        reversal_id = int(first.headers["location"].split("/")[-1].split("?")[0])
        done = await client.get(first.headers["location"])
        assert 'id="notice"' in done.text and "12.75" in done.text
    record = await service_conn.fetchrow(
        "SELECT reversals, reversed_amount FROM api.get_transaction($1)", int(transaction_id)
    )
    assert record is not None
    assert list(record["reversals"]) == [reversal_id]
    assert str(record["reversed_amount"]) in {"7.25", "7.250000"}
    reversal = await service_conn.fetchrow(
        "SELECT description, metadata FROM api.get_transaction($1)", reversal_id
    )
    assert reversal is not None
    assert reversal["description"] == "Order 42"
    assert json.loads(reversal["metadata"]) == {"operator": name, "via": "console"}


async def test_refunds_the_ledger_or_the_form_refuses_are_explained_and_move_nothing(
    settings: Settings, operator_key: str, unique: str, service_conn: asyncpg.Connection
) -> None:
    user = f"console-refuse-{unique}"
    async with console_client(settings) as client:
        transaction_id = await topped_up(client, operator_key, user, "10.00")
        spend = {
            "userId": user,
            "assetTypeId": GOLD,
            "amount": "8.00",
            "serviceDescription": "Sword",
        }
        spent = await client.post("/api/v1/wallet/spend", json=spend, headers=money(operator_key))
        assert spent.status_code == 201, spent.text
        token = await signed_in(client, operator_key)
        path = f"{CONSOLE}/transactions/{transaction_id}/refund"
        base = {"form_key": uuid.uuid4().hex, "reason": "Chargeback", "mode": "strict"}
        too_much = await client.get(path, params={**base, "amount": "10.01"})
        assert too_much.status_code == 400 and "more than what remains" in too_much.text
        not_amount = await client.get(path, params={**base, "amount": "1e3"})
        assert not_amount.status_code == 400 and "positive decimal" in not_amount.text
        no_reason = await client.get(path, params={**base, "reason": " "})
        assert no_reason.status_code == 400 and "reason is required" in no_reason.text
        # strict, and the coins are spent: the confirmation warns, and the ledger refuses
        review = await client.get(path, params=base)
        assert review.status_code == 200
        assert re.search(r'class="num after negative">-8\.00<', review.text)
        assert "will be refused" in review.text
        refused = await client.post(path, data={**base, "amount": "", "csrf_token": token})
        assert refused.status_code == 422, refused.text
        assert "insufficient" in refused.text.lower()
    record = await service_conn.fetchrow(
        "SELECT reversals FROM api.get_transaction($1)", int(transaction_id)
    )
    assert record is not None and not record["reversals"]


async def test_pages_refuse_what_names_nothing(settings: Settings, operator_key: str) -> None:
    async with console_client(settings) as client:
        await signed_in(client, operator_key)
        for path, status in [
            (f"{CONSOLE}/players/bad%20id", 400),
            (f"{CONSOLE}/players/user-rich-001?asset=no-such-asset", 404),
            (f"{CONSOLE}/players/user-rich-001?cursor=abc", 400),
            (f"{CONSOLE}/transactions/abc", 404),
            (f"{CONSOLE}/transactions/999999999999", 404),
        ]:
            response = await client.get(path)
            assert response.status_code == status, (path, response.text)
            assert 'role="alert"' in response.text, path
        found = await client.get(f"{CONSOLE}/players", params={"user": "user-rich-001"})
        assert found.status_code == 303
        assert found.headers["location"] == f"{CONSOLE}/players/user-rich-001"


async def test_without_redis_the_console_says_so(settings: Settings, operator_key: str) -> None:
    async with console_client(settings, redis_url="redis://127.0.0.1:1/0") as client:
        response = await sign_in(client, operator_key)
        assert response.status_code == 503
        assert "Redis" in response.text


async def test_workers_agree_on_a_new_kept_secret_after_redis_lost_the_old_one(
    settings: Settings, redis_client: Redis
) -> None:
    """Without WALLET_CONSOLE_SECRET the secret is kept in Redis, and each worker keeps a copy: a
    worker whose copy is stale (Redis lost its data, another worker made a new secret) must still
    recognise the sessions signed with the new one."""
    kept = dataclasses.replace(settings, console_secret="")
    worker_a, worker_b = Sessions(kept), Sessions(kept)
    try:
        before, _ = await worker_a.start(b"\x01" * 32, "kept-secret")
        assert await worker_b.find(before) is not None  # worker B reads the secret, and keeps it
        await redis_client.delete("wallet:console:secret")  # Redis loses it
        after, _ = await worker_a.start(b"\x01" * 32, "kept-secret")  # a new one is made
        assert await worker_b.find(after) is not None
        assert await worker_b.find(before) is None  # signed with the lost secret: refused
    finally:
        await worker_a.close()
        await worker_b.close()
