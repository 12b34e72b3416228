"""The console's pages: server-rendered HTML over the same ledger calls and gate as the REST API.

Every read is a call of the SQL API that a REST read makes too (api.balances, api.ledger_page,
api.get_transaction), and the one action, a refund, is service/http/reversals.py's reverse_once:
the same edge checks, the same Idempotency-Key flow in Redis, the same api.reverse. The books
page reads api.trial_balance, api.reconcile() and api.seal_status(), as `wallet reconcile` does.
"""

from __future__ import annotations

import re
import time
import traceback
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import msgspec
from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response, Router, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import PathParameter, QueryParameter
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from service import rules
from service.auth import ApiClient, KeyRing
from service.console.chart import Point, balance_chart
from service.console.sessions import (
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    Session,
    Sessions,
    SessionsUnavailableError,
    new_token,
    same_token,
)
from service.http.codec import decimal_text
from service.http.gate import Gate
from service.http.reads import page_arguments, transaction_in_path
from service.http.reversals import reverse_once
from service.http.wire import ReversalRequest
from service.keys import hash_key
from service.ledger import (
    BalanceRow,
    Ledger,
    LedgerError,
    LedgerLine,
    LedgerUnavailableError,
    TransactionRecord,
)
from service.observability import write_log
from service.problems import ProblemError, from_ledger

_HERE = Path(__file__).parent
PREFIX = "/console"
SIGN_IN = f"{PREFIX}/sign-in"
PLAYERS = f"{PREFIX}/players"
# Ledger lines per page, and entries drawn in the balance chart (the newest)
PAGE_SIZE = 20
CHART_ENTRIES = rules.PAGE_LIMIT_MAX
# The types a refund can take back (api.reverse; holds and captures are undone by their own calls)
REVERSIBLE = frozenset({"topup", "bonus", "spend", "transfer"})
# A refund form's key, made when the transaction page is drawn: the confirmation and its
# resubmissions (a double click, Back then Refund again) carry it, so they reverse once
_FORM_KEY = re.compile(r"[0-9a-f]{32}\Z")
_OPERATOR = "wallet.console_operator"  # where the guard leaves the operator in the ASGI scope
_PUBLIC = "console_public"  # a page for anyone: signing in
_SCOPE = "console_scope"  # the scope a page needs

_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["amount"] = decimal_text
_templates.filters["moment"] = lambda at: at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
_templates.filters["iso"] = lambda at: at.astimezone(UTC).isoformat()
_templates.filters["path"] = lambda text: quote(str(text), safe="")


@dataclass(frozen=True, slots=True)
class Operator:
    """Who is signed in: the session, and the client of its key as the key ring has it now."""

    session: Session
    client: ApiClient

    def may(self, scope: str) -> bool:
        return scope in self.client.scopes


class SignInRequiredError(Exception):
    """No live session: the browser is sent to the sign-in page, with why (`ended`)."""

    def __init__(self, ended: str | None = None) -> None:
        super().__init__(ended or "no session")
        self.ended = ended


class ConsolePageError(Exception):
    """A page that answers with an error page: its status, a title and what to do."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail


AnyRequest = Request[Any, Any, Any]
Query = Annotated[str | None, QueryParameter()]
PathText = Annotated[str, PathParameter()]


def operator_of(request: AnyRequest) -> Operator:
    operator: Operator = request.scope[_OPERATOR]  # type: ignore[literal-required]
    return operator


def _render(
    request: AnyRequest,
    template: str,
    status: int = 200,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Response[str]:
    operator: Operator | None = request.scope.get(_OPERATOR)  # type: ignore[assignment]
    # every signed-in page's forms (sign-out among them) carry the session's CSRF token; the
    # sign-in page gives its own
    context.setdefault("csrf", operator.session.csrf if operator else "")
    html = _templates.get_template(template).render(operator=operator, **context)
    return Response(html, status_code=status, media_type=MediaType.HTML, cookies=cookies or [])


def _secure(request: AnyRequest) -> bool:
    """Whether the cookies get the Secure attribute: always, but on a development server reached
    as localhost over plain HTTP (where a browser would not send them back)."""
    host = request.url.hostname or ""
    return request.url.scheme == "https" or host not in {"localhost", "127.0.0.1", "::1"}


def _cookie(request: AnyRequest, name: str, value: str, max_age: int | None) -> Cookie:
    return Cookie(
        key=name,
        value=value,
        path=PREFIX,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        max_age=max_age,
    )


def _expired(request: AnyRequest, name: str) -> Cookie:
    return _cookie(request, name, "", 0)


class SessionGuard:
    """Every page but sign-in's: a live session whose key is still active, holding the page's
    scope. The client is found again from the key ring on each request, so a revoked key's
    sessions end within the key ring's refresh, and a key's changed scopes apply at once."""

    def __init__(self, sessions: Sessions, keyring: KeyRing) -> None:
        self._sessions = sessions
        self._keyring = keyring

    def __deepcopy__(self, memo: dict[int, Any]) -> SessionGuard:
        return self  # as ApiKeyGuard: Litestar deep-copies routers as it registers them

    async def __call__(
        self, connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
    ) -> None:
        if handler.opt.get(_PUBLIC):
            return
        if not self._keyring.loaded:
            raise LedgerUnavailableError("API keys cannot be read yet: the database is down")
        cookie = connection.cookies.get(SESSION_COOKIE)
        session = await self._sessions.find(cookie)
        if session is None:
            raise SignInRequiredError("ended" if cookie else None)
        client = self._keyring.client_of_hash(session.key_hash)
        if client is None:
            await self._sessions.end(session)
            raise SignInRequiredError("revoked")
        connection.scope[_OPERATOR] = Operator(session, client)  # type: ignore[literal-required]
        connection.scope["wallet.client"] = client.name  # type: ignore[typeddict-unknown-key]
        needed: str | None = handler.opt.get(_SCOPE)
        if needed is not None and needed not in client.scopes:
            raise ConsolePageError(
                403,
                "Not allowed with this key",
                f"This page needs the scope {needed}, which the key {client.name!r} lacks. "
                "Sign in with a key that holds it.",
            )


async def _posted_form(request: AnyRequest, expected_token: str) -> dict[str, str]:
    """The form's fields, once its CSRF token is found to be the session's (or the sign-in
    cookie's): refused with 403 otherwise."""
    form = await request.form()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    if not same_token(fields.get("csrf_token"), expected_token):
        raise ConsolePageError(
            403,
            "The form could not be accepted",
            "It did not carry this session's security token (it may come from another site, "
            "or from before you last signed in). Nothing was changed: reload the page and try "
            "again.",
        )
    return fields


def _user_id(text: str) -> str:
    if not rules.is_user_id(text):
        raise ConsolePageError(
            400, "Not a user id", f"A user id is {rules.USER_ID_RULE}; {text!r} is not one."
        )
    return text


def _transaction_id(text: str) -> int:
    try:
        return transaction_in_path(text)
    except ProblemError as error:
        raise ConsolePageError(404, "No such transaction", error.detail) from error


def _remaining(t: TransactionRecord) -> Decimal | None:
    """What is left to refund of a reversible transaction (None: not a reversible type)."""
    if t.type not in REVERSIBLE:
        return None
    # at the amount's decimal places: "25.50", whatever the places of the sum of the reversals
    return (t.amount - (t.reversed_amount or Decimal(0))).quantize(t.amount)


def _refundable(t: TransactionRecord) -> Decimal:
    """What remains to refund, or 409 when nothing does (refunded in full, or not a type a
    refund takes back)."""
    remaining = _remaining(t)
    if not remaining:
        what = "has been refunded in full" if remaining is not None else "cannot be refunded"
        raise ConsolePageError(
            409,
            "Nothing to refund",
            f"Transaction {t.transaction_id} ({t.type}) {what}.",
        )
    return remaining


def _signed(line_direction: str, amount: Decimal) -> Decimal:
    return amount if line_direction == "credit" else -amount


_templates.globals["signed"] = _signed
_templates.globals["SCOPE_AUDIT"] = rules.SCOPE_AUDIT


@dataclass(frozen=True, slots=True)
class RefundForm:
    """A refund as the form gives it, checked as the REST API checks a reversal's body."""

    request: ReversalRequest
    amount: Decimal | None  # None: all that remains
    form_key: str


def _refund_form(
    fields: dict[str, str], operator: Operator, remaining: Decimal | None
) -> RefundForm:
    """The refund the fields describe, with the operator in its metadata; ConsolePageError 400
    naming what is wrong (an amount above `remaining`, when given, among them)."""
    amount_text = fields.get("amount", "").strip()
    reason = fields.get("reason", "").strip()
    mode = fields.get("mode", "strict")
    form_key = fields.get("form_key", "")
    problems = []
    if not reason:
        problems.append("a reason is required: it is kept with the refund for good")
    amount: Decimal | None = None
    if amount_text:
        try:
            amount = Decimal(amount_text) if rules.is_amount(amount_text) else None
        except InvalidOperation:
            amount = None
        if amount is None or amount <= 0:
            problems.append(f"the amount is a positive decimal such as 7.50, not {amount_text!r}")
        elif remaining is not None and amount > remaining:
            problems.append(f"the amount is more than what remains to refund ({remaining})")
    if not _FORM_KEY.match(form_key):
        problems.append("the form is incomplete: open the refund from the transaction's page")
    body = {
        "reason": reason,
        "amount": amount_text or None,
        "mode": mode,
        "metadata": {"operator": operator.client.name, "via": "console"},
    }
    try:
        request = msgspec.convert(body, ReversalRequest)
    except msgspec.ValidationError as error:
        problems.append(str(error))
        request = None
    if problems or request is None:
        raise ConsolePageError(400, "The refund cannot be made as asked", "; ".join(problems))
    return RefundForm(request, amount, form_key)


def routes(ledger: Ledger, gate: Gate, keyring: KeyRing, sessions: Sessions) -> Router:
    """The console under /console: its pages, bound to what they read and post through, behind
    the session guard, with HTML error pages of their own."""

    @get("/", opt={_PUBLIC: True})
    async def home(request: AnyRequest) -> Response[Any]:
        session = await sessions.find(request.cookies.get(SESSION_COOKIE))
        return Redirect(PLAYERS if session else SIGN_IN, status_code=303)

    @get("/sign-in", opt={_PUBLIC: True})
    async def sign_in_page(request: AnyRequest, ended: Query = None) -> Response[Any]:
        if await sessions.find(request.cookies.get(SESSION_COOKIE)):
            return Redirect(PLAYERS, status_code=303)
        return _sign_in_form(request, ended=ended)

    def _sign_in_form(
        request: AnyRequest, status: int = 200, error: str | None = None, ended: str | None = None
    ) -> Response[str]:
        token = new_token()
        return _render(
            request,
            "sign_in.html",
            status,
            cookies=[_cookie(request, SIGN_IN_COOKIE, token, 3600)],
            csrf=token,
            error=error,
            ended=ended,
            idle_minutes=sessions.idle_seconds // 60,
        )

    @post("/sign-in", opt={_PUBLIC: True}, status_code=303)
    async def sign_in(request: AnyRequest) -> Response[Any]:
        fields = await _posted_form(request, request.cookies.get(SIGN_IN_COOKIE) or new_token())
        # attempts count against a limit of their own per address, as an API key's requests do
        address = request.client.host if request.client else "unknown"
        await gate.admit_read(ApiClient(f"console-sign-in:{address}", frozenset()))
        key = fields.get("api_key", "").strip()
        client = keyring.client_of_hash(hash_key(key)) if key else None
        if client is None:
            return _sign_in_form(request, 401, "This API key is not valid (unknown or revoked).")
        if rules.SCOPE_READ not in client.scopes:
            return _sign_in_form(
                request,
                403,
                f"The key {client.name!r} lacks the scope {rules.SCOPE_READ}, which every page "
                "of the console needs.",
            )
        previous = await sessions.find(request.cookies.get(SESSION_COOKIE))
        if previous is not None:  # a new sign-in is a new session, never the old one renamed
            await sessions.end(previous)
        cookie, _ = await sessions.start(hash_key(key), client.name)
        response = Redirect(PLAYERS, status_code=303)
        response.set_cookie(_cookie(request, SESSION_COOKIE, cookie, None))
        response.set_cookie(_expired(request, SIGN_IN_COOKIE))
        return response

    @post("/sign-out", status_code=303)
    async def sign_out(request: AnyRequest) -> Response[Any]:
        operator = operator_of(request)
        await _posted_form(request, operator.session.csrf)
        await sessions.end(operator.session)
        response = Redirect(f"{SIGN_IN}?ended=signed-out", status_code=303)
        response.set_cookie(_expired(request, SESSION_COOKIE))
        return response

    @get("/players", opt={_SCOPE: rules.SCOPE_READ})
    async def find_player(request: AnyRequest, user: Query = None) -> Response[Any]:
        if user is not None and user.strip():
            wanted = user.strip()
            if rules.is_user_id(wanted):
                return Redirect(f"{PLAYERS}/{quote(wanted, safe='')}", status_code=303)
            return _render(
                request,
                "players.html",
                400,
                user=wanted,
                error=f"A user id is {rules.USER_ID_RULE}.",
            )
        return _render(request, "players.html", user="", error=None)

    @get("/players/{user_id:str}", opt={_SCOPE: rules.SCOPE_READ})
    async def player(
        request: AnyRequest, user_id: PathText, asset: Query = None, cursor: Query = None
    ) -> Response[str]:
        user = _user_id(user_id)
        try:
            _, _, before = page_arguments(None, None, cursor)
        except ProblemError as error:
            raise ConsolePageError(400, "Not a page of this ledger", error.detail) from error
        balances = await ledger.balances(user, None)
        selected = _selected_asset(balances, asset)
        lines: list[LedgerLine] = []
        older: int | None = None
        chart = None
        if selected is not None and selected.wallet_id is not None:
            # The chart draws the newest entries; the first page of the table is their head
            newest = await ledger.ledger_page(selected.wallet_id, CHART_ENTRIES, 0, None)
            if before is None:
                lines = newest.entries[:PAGE_SIZE]
                more = len(newest.entries) > PAGE_SIZE or newest.next_cursor is not None
                older = lines[-1].wallet_version if more and lines else None
            else:
                page = await ledger.ledger_page(selected.wallet_id, PAGE_SIZE, 0, before)
                lines, older = page.entries, page.next_cursor
            # oldest first: entries of one moment keep their order in the chart
            points = [Point(e.created_at, e.balance_after) for e in reversed(newest.entries)]
            chart = balance_chart(points)

        def page_link(**query: str) -> str:
            return f"{PLAYERS}/{quote(user, safe='')}?{urlencode(query)}"

        return _render(
            request,
            "player.html",
            user=user,
            balances=balances,
            selected=selected,
            lines=lines,
            chart=chart,
            older_link=page_link(asset=selected.asset_id, cursor=str(older))
            if selected and older
            else None,
            newest_link=page_link(asset=selected.asset_id) if selected and before else None,
            asset_link=lambda asset_id: page_link(asset=asset_id),
            chart_entries=CHART_ENTRIES,
        )

    @get("/transactions/{transaction_id:str}", opt={_SCOPE: rules.SCOPE_READ})
    async def transaction(
        request: AnyRequest, transaction_id: PathText, refunded: Query = None
    ) -> Response[str]:
        operator = operator_of(request)
        t = await ledger.get_transaction(_transaction_id(transaction_id))
        remaining = _remaining(t)
        return _render(
            request,
            "transaction.html",
            t=t,
            metadata=msgspec.json.format(bytes(t.metadata), indent=2).decode(),
            remaining=remaining,
            refunded_so_far=None if remaining is None else t.amount - remaining,
            can_refund=operator.may(rules.SCOPE_REFUND) and bool(remaining),
            form_key=uuid.uuid4().hex,
            refunded=refunded is not None,
        )

    @get("/transactions/{transaction_id:str}/refund", opt={_SCOPE: rules.SCOPE_REFUND})
    async def refund_review(request: AnyRequest, transaction_id: PathText) -> Response[str]:
        operator = operator_of(request)
        t = await ledger.get_transaction(_transaction_id(transaction_id))
        remaining = _refundable(t)
        refund = _refund_form(dict(request.query_params.items()), operator, remaining)
        amount = refund.amount if refund.amount is not None else remaining
        effects = []
        asset_name = t.asset_id
        for leg in t.entries:
            if leg.owner_type != "user" or leg.user_id is None:
                continue
            rows = await ledger.balances(leg.user_id, t.asset_id)
            asset_name = rows[0].asset_name if rows else asset_name
            before = rows[0].balance if rows else Decimal(0)
            after = before - _signed(leg.direction, amount)
            effects.append((leg.user_id, before, after))
        return _render(
            request,
            "refund.html",
            t=t,
            refund=refund,
            amount=amount,
            remaining=remaining,
            effects=effects,
            asset=asset_name,
        )

    @post("/transactions/{transaction_id:str}/refund", opt={_SCOPE: rules.SCOPE_REFUND})
    async def refund(request: AnyRequest, transaction_id: PathText) -> Response[Any]:
        operator = operator_of(request)
        fields = await _posted_form(request, operator.session.csrf)
        # no look at what remains first: a repeat of a refund that took all of it must reach the
        # gate and be answered with that refund, and the ledger decides what may be refunded
        form = _refund_form(fields, operator, None)
        answer = await reverse_once(
            ledger,
            gate,
            operator.client,
            transaction_id,
            form.request,
            f"console:{form.form_key}",
        )
        reversal = msgspec.json.decode(answer.body)["transactionId"]
        return Redirect(f"{PREFIX}/transactions/{reversal}?refunded=1", status_code=303)

    @get("/books", opt={_SCOPE: rules.SCOPE_AUDIT})
    async def books(request: AnyRequest, run: Query = None) -> Response[str]:
        status = await ledger.seal_status()
        now = datetime.now(UTC)
        oldest = status.oldest_unsealed_at
        lag = (now - oldest).total_seconds() if oldest is not None else 0.0
        trial = checks = None
        took_ms = None
        checks_error = None
        if run:
            started = time.perf_counter()
            try:
                trial = await ledger.trial_balance()
                checks = await ledger.reconcile()
            except LedgerUnavailableError as error:
                checks_error = str(error.reason)
            took_ms = round((time.perf_counter() - started) * 1000)
        return _render(
            request,
            "books.html",
            seal=status,
            lag_seconds=lag,
            trial=trial,
            checks=checks,
            took_ms=took_ms,
            checks_error=checks_error,
            now=now,
        )

    # -- error pages -----------------------------------------------------------------------------

    def on_sign_in_required(request: AnyRequest, exc: SignInRequiredError) -> Response[Any]:
        target = SIGN_IN if exc.ended is None else f"{SIGN_IN}?ended={exc.ended}"
        response = Redirect(target, status_code=303)
        if request.cookies.get(SESSION_COOKIE):
            response.set_cookie(_expired(request, SESSION_COOKIE))
        return response

    def error_page(request: AnyRequest, status: int, title: str, detail: str) -> Response[str]:
        return _render(
            request,
            "error.html",
            status,
            title=title,
            detail=detail,
        )

    def on_page_error(request: AnyRequest, exc: ConsolePageError) -> Response[str]:
        return error_page(request, exc.status, exc.title, exc.detail)

    def on_problem(request: AnyRequest, exc: ProblemError) -> Response[str]:
        title = exc.code.replace("_", " ").capitalize()
        return error_page(request, exc.status, title, exc.detail)

    def on_ledger_error(request: AnyRequest, exc: LedgerError) -> Response[str]:
        try:
            problem = from_ledger(exc, "reason")
        except LookupError:
            return on_unexpected(request, exc)
        return on_problem(request, problem)

    def on_unavailable(
        request: AnyRequest, exc: LedgerUnavailableError | SessionsUnavailableError
    ) -> Response[str]:
        what = (
            "Redis, where sessions are kept,"
            if isinstance(exc, SessionsUnavailableError)
            else ("the database")
        )
        return error_page(
            request, 503, "Unavailable", f"{what} cannot be reached ({exc}); try again shortly."
        )

    def on_http(request: AnyRequest, exc: HTTPException) -> Response[str]:
        return error_page(request, exc.status_code, "Not possible", str(exc.detail))

    def on_unexpected(request: AnyRequest, exc: Exception) -> Response[str]:
        write_log(
            {
                "level": "error",
                "msg": "unhandled exception in the console",
                "requestId": request.scope.get("wallet.request_id"),
                "error": repr(exc),
                "traceback": traceback.format_exception(exc),
            }
        )
        return error_page(request, 500, "Something went wrong", "It has been logged.")

    static = create_static_files_router(
        path="/static",
        directories=[_HERE / "static"],
        include_in_schema=False,
        opt={_PUBLIC: True},  # the sign-in page's style sheet too
    )
    return Router(
        PREFIX,
        route_handlers=[
            home,
            sign_in_page,
            sign_in,
            sign_out,
            find_player,
            player,
            transaction,
            refund_review,
            refund,
            books,
            static,
        ],
        guards=[SessionGuard(sessions, keyring)],
        include_in_schema=False,
        exception_handlers={
            SignInRequiredError: on_sign_in_required,
            ConsolePageError: on_page_error,
            ProblemError: on_problem,
            LedgerError: on_ledger_error,
            LedgerUnavailableError: on_unavailable,
            SessionsUnavailableError: on_unavailable,
            HTTPException: on_http,
            Exception: on_unexpected,
        },
    )


def _selected_asset(balances: list[BalanceRow], asset: str | None) -> BalanceRow | None:
    if not balances:
        return None
    if asset is None:  # the first asset the player has a wallet of, else the first of all
        return next((row for row in balances if row.wallet_id is not None), balances[0])
    for row in balances:
        if row.asset_id == asset:
            return row
    raise ConsolePageError(404, "No such asset", f"There is no asset {asset!r}.")
