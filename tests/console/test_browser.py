"""The operator console in a real browser (headless Chromium) against a real `wallet serve`:
signing in, finding a player, their balances and ledger, refunding part of a top-up (review, then
confirm, once however often the form is sent), what a read-only key may not do, the books, and
signing out. Each test makes a player of its own through the REST API.

With CONSOLE_SCREENSHOTS set (make console-screenshots: docs/console), the screenshots land
there; otherwise in the test's tmp_path.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from service.keys import generate_key
from tests.console.conftest import Console, Operator, Operators
from tests.support import GOLD

DIAMOND = "asset-diamond-001"
LOYALTY = "asset-loyalty-001"  # an asset the test's players never get: no wallet, 0.00
PAGE_SIZE = 20


# ----------------------------------------------------------------------------------------------
# A player of the test's own, made through the REST API
# ----------------------------------------------------------------------------------------------
@dataclass
class Player:
    user: str
    # per asset, the ids of the transactions that moved it, oldest first
    ledger: dict[str, list[str]] = field(default_factory=dict)

    def newest_first(self, asset: str) -> list[str]:
        return list(reversed(self.ledger.get(asset, [])))


def _money(rest: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = rest.post(path, json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _credit(rest: httpx.Client, player: Player, asset: str, amount: str) -> str:
    body = {"userId": player.user, "assetTypeId": asset, "amount": amount}
    transaction_id: str = _money(rest, "/api/v1/wallet/topup", body)["transactionId"]
    player.ledger.setdefault(asset, []).append(transaction_id)
    return transaction_id


def _spend(rest: httpx.Client, player: Player, asset: str, amount: str) -> str:
    body = {
        "userId": player.user,
        "assetTypeId": asset,
        "amount": amount,
        "serviceDescription": "Sword of testing",
    }
    transaction_id: str = _money(rest, "/api/v1/wallet/spend", body)["transactionId"]
    player.ledger.setdefault(asset, []).append(transaction_id)
    return transaction_id


def _balance(rest: httpx.Client, user: str, asset: str = GOLD) -> str:
    response = rest.get(f"/api/v1/wallet/{user}/balance", params={"assetTypeId": asset})
    assert response.status_code == 200, response.text
    balance: str = response.json()["balances"][0]["balance"]
    return balance


def _transaction(rest: httpx.Client, transaction_id: str) -> dict[str, Any]:
    response = rest.get(f"/api/v1/transactions/{transaction_id}")
    assert response.status_code == 200, response.text
    transaction: dict[str, Any] = response.json()
    return transaction


# ----------------------------------------------------------------------------------------------
# Steps
# ----------------------------------------------------------------------------------------------
def _sign_in(console: Console, operator: Operator) -> None:
    console.open("/console/sign-in")
    console.type_into("#sign-in #api_key", operator.key)
    console.follow(console.button("Sign in", within="#sign-in"))
    assert console.statuses == [("/console/sign-in", 303), ("/console/players", 200)]
    assert console.find("#operator").text.strip() == operator.name


def _sign_out(console: Console) -> None:
    console.follow(console.button("Sign out", within="#sign-out"))
    assert console.statuses == [
        ("/console/sign-out", 303),
        ("/console/sign-in?ended=signed-out", 200),
    ]
    assert "signed out" in console.find("p.notice[role=status]").text


def _ledger_rows(console: Console) -> list[str]:
    """The transaction ids of the ledger shown, top to bottom, each linking to its page."""
    ids = []
    for row in console.find_all("#ledger tbody tr[data-transaction]"):
        transaction_id = row.get_attribute("data-transaction")
        assert transaction_id
        link = row.find_element("css selector", "a.transaction-link")
        assert link.get_attribute("href") == console.url(f"/console/transactions/{transaction_id}")
        ids.append(transaction_id)
    return ids


def _balance_cells(console: Console, asset: str) -> tuple[str, str, str]:
    row = console.find(f"#balances tbody tr[data-asset='{asset}']")
    cells = (
        row.find_element("css selector", f"td.{name}").text.strip()
        for name in ("balance", "held", "total")
    )
    balance, held, total = cells
    return balance, held, total


# ----------------------------------------------------------------------------------------------
# The tests
# ----------------------------------------------------------------------------------------------
def test_an_operator_pages_a_players_ledger_and_refunds_part_of_a_top_up_once(
    console: Console, operators: Operators, rest: httpx.Client
) -> None:
    player = Player(f"console-player-{uuid.uuid4().hex[:10]}")
    # gold: 100.00, 21 top-ups of 1.25 and 3 spends of 2.50, then 40.00: 26 lines, 2 pages
    _credit(rest, player, GOLD, "100.00")
    for _ in range(21):
        _credit(rest, player, GOLD, "1.25")
    for _ in range(3):
        _spend(rest, player, GOLD, "2.50")
    refunded = _credit(rest, player, GOLD, "40.00")
    diamond = _credit(rest, player, DIAMOND, "7.00")
    assert _balance(rest, player.user) == "158.75"

    # no session: the console's root sends to the sign-in page
    console.open("/console/")
    assert console.statuses == [("/console/", 303), ("/console/sign-in", 200)]
    assert console.find("#sign-in").get_attribute("method") == "post"
    key_input = console.find("#sign-in #api_key")
    assert key_input.get_attribute("type") == "password"
    assert key_input.get_attribute("name") == "api_key"
    assert console.label_of("api_key") == "API key"
    assert console.find("#sign-in input[type=hidden][name=csrf_token]").get_attribute("value")
    console.screenshot("sign-in")

    # a key the service does not know: an error, and the key typed is not shown back
    wrong_key = generate_key()
    console.secrets.append(wrong_key)
    console.type_into("#sign-in #api_key", wrong_key)
    console.follow(console.button("Sign in", within="#sign-in"))
    assert console.path == "/console/sign-in"
    assert console.find("p.error[role=alert]").text.strip()

    _sign_in(console, operators.admin)
    assert console.links("nav") == ["Players", "Books"]
    console.open("/console/")  # with a session, the root sends to the players
    assert console.statuses == [("/console/", 303), ("/console/players", 200)]

    # finding the player
    assert console.find("#find-player").get_attribute("method") == "get"
    assert console.label_of("user") == "User id"
    console.type_into("#find-player #user", player.user)
    console.follow(console.button("Find", within="#find-player"))
    assert console.path == f"/console/players/{player.user}"
    assert player.user in console.find("h1").text

    # the balances, one row per asset (those the player has no wallet of too); the first
    # asset's ledger is shown by default
    rows = console.find_all("#balances tbody tr[data-asset]")
    assert sorted(row.get_attribute("data-asset") or "" for row in rows) == [DIAMOND, GOLD, LOYALTY]
    assert _balance_cells(console, GOLD) == ("158.75", "0.00", "158.75")
    assert _balance_cells(console, DIAMOND) == ("7.00", "0.00", "7.00")
    assert _balance_cells(console, LOYALTY) == ("0.00", "0.00", "0.00")
    first_asset = rows[0].get_attribute("data-asset") or ""
    assert _ledger_rows(console) == player.newest_first(first_asset)[:PAGE_SIZE]

    # another asset, by its name's link
    console.follow(
        console.find(f"#balances tr[data-asset='{DIAMOND}'] a[href$='?asset={DIAMOND}']")
    )
    assert _ledger_rows(console) == [diamond]
    console.follow(console.find(f"#balances tr[data-asset='{GOLD}'] a[href$='?asset={GOLD}']"))
    assert console.path == f"/console/players/{player.user}?asset={GOLD}"
    assert console.find("svg#balance-chart").get_attribute("role") == "img"
    gold_lines = player.newest_first(GOLD)
    assert _ledger_rows(console) == gold_lines[:PAGE_SIZE]
    assert console.absent("#newest")
    console.screenshot("player")
    console.phone_screenshot("player-phone")

    # paging: Older, then Newest
    older = console.find("a#older")
    assert older.get_attribute("rel") == "next"
    console.follow(older)
    assert _ledger_rows(console) == gold_lines[PAGE_SIZE:]
    assert console.absent("#older")
    console.follow(console.find("a#newest"))
    assert _ledger_rows(console) == gold_lines[:PAGE_SIZE]

    # the top-up of 40.00, and a refund of 15.00 of it, reviewed first
    console.follow(console.find(f"#ledger tr[data-transaction='{refunded}'] a.transaction-link"))
    assert console.path == f"/console/transactions/{refunded}"
    assert len(console.find_all("#legs tbody tr")) == 2  # Treasury to the player
    assert console.find("#metadata").tag_name == "pre"
    assert console.absent("#reverses")
    assert console.absent("#reversals")
    refund_form = console.find("form#refund")
    assert refund_form.get_attribute("method") == "get"
    assert refund_form.get_attribute("action") == console.url(
        f"/console/transactions/{refunded}/refund"
    )
    assert console.find("#refund #mode-strict").is_selected()
    assert not console.find("#refund #mode-allow_negative").is_selected()
    assert console.find("#refund #reason").get_attribute("required") is not None
    console.screenshot("transaction")
    console.type_into("#refund #amount", "15.00")
    console.type_into("#refund #reason", "Store refund: test order")
    console.follow(console.button("Review refund", within="#refund"))
    review_path = console.path
    assert review_path.startswith(f"/console/transactions/{refunded}/refund?")
    effect = [
        (
            row.find_element("css selector", "td.before").text.strip(),
            row.find_element("css selector", "td.after").text.strip(),
        )
        for row in console.find_all("#effect tbody tr")
        if player.user in row.text
    ]
    assert effect == [("158.75", "143.75")]
    assert _balance(rest, player.user) == "158.75", "reviewing moved nothing"
    confirm = console.find("form#confirm-refund")
    assert confirm.get_attribute("method") == "post"
    hidden = {
        element.get_attribute("name"): element.get_attribute("value")
        for element in confirm.find_elements("css selector", "input[type=hidden]")
    }
    # form_key: the refund's idempotency key, the same however often the form is sent
    assert hidden.keys() >= {"amount", "reason", "mode", "form_key", "csrf_token"}
    assert hidden["form_key"]
    assert (hidden["amount"], hidden["reason"], hidden["mode"]) == (
        "15.00",
        "Store refund: test order",
        "strict",
    )
    assert console.link("Cancel")
    console.screenshot("refund-confirmation")

    console.follow(console.button("Refund", within="#confirm-refund"))
    ((posted, posted_status), (landed, landed_status)) = console.statuses
    assert (posted, posted_status) == (review_path.split("?")[0], 303)
    assert landed.startswith("/console/transactions/") and landed_status == 200
    reversal = landed.removeprefix("/console/transactions/").split("?")[0]
    assert reversal != refunded
    assert console.find("p#notice").get_attribute("role") == "status"
    assert console.find("a#reverses").get_attribute("href") == console.url(
        f"/console/transactions/{refunded}"
    )
    done = _transaction(rest, reversal)
    assert (done["type"], done["amount"], done["reversesTransactionId"]) == (
        "reversal",
        "15.00",
        refunded,
    )

    # the player's page shows the new balance, as the REST API does
    console.open(f"/console/players/{player.user}?asset={GOLD}")
    assert _balance_cells(console, GOLD) == ("143.75", "0.00", "143.75")
    assert _balance(rest, player.user) == "143.75"
    assert _ledger_rows(console) == [reversal, *gold_lines[: PAGE_SIZE - 1]]

    # Back to the confirmation, and Refund again: still one reversal, the balance moved once
    console.back(landed)
    console.back(review_path)
    console.follow(console.button("Refund", within="#confirm-refund"))
    assert console.statuses == [(posted, 303), (landed, 200)], "sent again, the same refund"
    assert _transaction(rest, refunded)["reversals"] == [reversal]
    assert _balance(rest, player.user) == "143.75"
    console.open(f"/console/transactions/{refunded}")
    reversal_links = console.find_all("ul#reversals a")
    assert [link.get_attribute("href") for link in reversal_links] == [
        console.url(f"/console/transactions/{reversal}")
    ]

    _sign_out(console)
    console.open(f"/console/players/{player.user}")
    assert console.statuses == [(f"/console/players/{player.user}", 303), ("/console/sign-in", 200)]


def test_a_read_only_key_sees_a_transaction_but_may_not_refund_it_nor_see_the_books(
    console: Console, operators: Operators, rest: httpx.Client
) -> None:
    player = Player(f"console-reader-{uuid.uuid4().hex[:10]}")
    top_up = _credit(rest, player, GOLD, "25.00")

    _sign_in(console, operators.reader)
    assert console.links("nav") == ["Players"]
    console.open(f"/console/transactions/{top_up}")
    assert console.statuses == [(f"/console/transactions/{top_up}", 200)]
    assert len(console.find_all("#legs tbody tr")) == 2
    assert console.absent("form#refund")

    refund_page = f"/console/transactions/{top_up}/refund?amount=&reason=Nope&mode=strict"
    console.open(refund_page)
    assert console.statuses == [(refund_page, 403)]
    console.open("/console/books")
    assert console.statuses == [("/console/books", 403)]
    assert _balance(rest, player.user) == "25.00"

    console.open(f"/console/players/{player.user}")
    assert _balance_cells(console, GOLD) == ("25.00", "0.00", "25.00")
    _sign_out(console)
    console.open(f"/console/players/{player.user}")
    assert console.statuses == [(f"/console/players/{player.user}", 303), ("/console/sign-in", 200)]
    console.open(f"/console/transactions/{top_up}")
    assert console.statuses == [(f"/console/transactions/{top_up}", 303), ("/console/sign-in", 200)]


def test_the_books_show_the_seal_and_run_the_checks_on_request(
    console: Console, operators: Operators
) -> None:
    _sign_in(console, operators.admin)
    console.follow(console.link("Books", within="nav"))
    assert console.path == "/console/books"
    assert console.find("section#seal").text.strip()
    assert console.absent("#trial-balance"), "the checks run only when asked for"

    console.follow(console.find("a#run-checks"))
    assert console.path == "/console/books?run=1"
    balanced = [cell.text.strip() for cell in console.find_all("#trial-balance tbody td.balanced")]
    assert balanced and set(balanced) == {"yes"}, balanced
    verdicts = [cell.text.strip() for cell in console.find_all("#checks tbody tr td.ok")]
    assert verdicts and set(verdicts) == {"ok"}, verdicts
    assert len(verdicts) == len(console.find_all("#checks tbody tr"))
    console.screenshot("books")


def test_the_console_is_usable_from_the_keyboard_alone(
    console: Console, operators: Operators
) -> None:
    console.open("/console/sign-in")
    focused = console.driver.switch_to.active_element
    assert focused.get_attribute("id") == "api_key", "the key's field has the focus at once"
    page = console.find("html")
    focused.send_keys(operators.reader.key, Keys.ENTER)
    WebDriverWait(console.driver, 10).until(expected_conditions.staleness_of(page))
    console.wait_for_page()
    assert console.path == "/console/players"

    # from the top of the page: the skip link first, with a focus outline one can see
    ActionChains(console.driver).send_keys(Keys.TAB).perform()
    focused = console.driver.switch_to.active_element
    assert focused.text.strip() == "Skip to the content"
    outline = console.driver.execute_script(
        "const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, s.outlineWidth]"
    )
    assert outline == ["solid", "3px"], outline
    # then Tab on to the user id's field, through the header's links and button
    for _ in range(8):
        ActionChains(console.driver).send_keys(Keys.TAB).perform()
        if console.driver.switch_to.active_element.get_attribute("id") == "user":
            break
    focused = console.driver.switch_to.active_element
    assert focused.get_attribute("id") == "user"
    page = console.find("html")
    focused.send_keys("user-rich-001", Keys.ENTER)
    WebDriverWait(console.driver, 10).until(expected_conditions.staleness_of(page))
    console.wait_for_page()
    assert console.path == "/console/players/user-rich-001"
    assert console.find("#balances tbody tr[data-asset]")
