"""The sign-in throttle under concurrent guesses, over a real threaded server (as the panel is served)."""

import re
import threading

import httpx
import pytest

import connector.users
from admin_ui import security, serve_in_thread
from tests.admin_ui.conftest import (
    CHEAP_HASHING,
    PASSWORD,
    SANDBOX_CREDENTIALS,
    client_for,
    new_account,
    new_user,
    page_text,
)

LIMIT = 8  # CONNECTOR_LOGIN_MAX_ATTEMPTS' default


class CountingHashing:
    """The tests' cheap hashing, counting (and slowing a little) every password it checks."""

    def __init__(self, delay: float = 0.05):
        self.checked: list[str] = []
        self.delay = delay
        self._lock = threading.Lock()

    def hash(self, password):
        return CHEAP_HASHING.hash(password)

    def needs_rehash(self, stored):
        return CHEAP_HASHING.needs_rehash(stored)

    def verify(self, stored, password):
        with self._lock:
            self.checked.append(password)
        threading.Event().wait(self.delay)  # wide enough for every request to be in flight at once
        return CHEAP_HASHING.verify(stored, password)


@pytest.fixture
def counting(monkeypatch):
    hashing = CountingHashing()
    monkeypatch.setattr(connector.users, "PASSWORD_HASHING", hashing)
    return hashing


@pytest.fixture
def panel(ui_ctx):
    url, server = serve_in_thread(ui_ctx, TESTING=True, SANDBOX_CREDENTIALS=SANDBOX_CREDENTIALS)
    yield url
    server.shutdown()
    server.server_close()


def sign_in_over_http(url: str, email: str, password: str, start: threading.Barrier | None = None) -> int:
    """One browser: opens the sign-in page (cookie + CSRF token), then posts the form."""
    with httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/login").text
        token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
        if start is not None:
            start.wait()
        return http.post("/login", data={"email": email, "password": password, "csrf_token": token}).status_code


def test_forty_concurrent_guesses_evaluate_at_most_the_limit(ui_ctx, panel, counting):
    account = new_account(ui_ctx)
    victim, colleague = new_user(ui_ctx, account), new_user(ui_ctx, account)
    start = threading.Barrier(40)
    statuses: list[int] = []

    def guess(number: int) -> None:
        statuses.append(sign_in_over_http(panel, victim, f"adivinanza-{number:03d}", start))

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(statuses) == 40 and set(statuses) <= {401, 429}, statuses
    guesses_checked = [p for p in counting.checked if p.startswith("adivinanza-")]
    assert len(guesses_checked) <= LIMIT and statuses.count(401) <= LIMIT, (len(guesses_checked), statuses)
    assert statuses.count(429) >= 40 - LIMIT
    # The right password after the limit does not sign in, and is not even checked.
    counting.checked.clear()
    assert sign_in_over_http(panel, victim, PASSWORD) == 429
    assert PASSWORD not in counting.checked
    # Another seller behind the same address (a shop's NAT, the reverse proxy) is not locked out.
    assert sign_in_over_http(panel, colleague, PASSWORD) == 302


def test_the_right_password_among_concurrent_guesses_signs_in_only_within_the_limit(ui_ctx, panel, counting):
    email = new_user(ui_ctx, new_account(ui_ctx))
    start = threading.Barrier(40)
    results: dict[int, int] = {}

    def guess(number: int) -> None:
        password = PASSWORD if number == 39 else f"adivinanza-{number:03d}"
        results[number] = sign_in_over_http(panel, email, password, start)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    # However the requests interleave, at most LIMIT wrong passwords were checked; the right one signed
    # in only if it was checked (a success costs no attempt, failures stay counted).
    wrong_checked = [p for p in counting.checked if p != PASSWORD]
    assert len(wrong_checked) <= LIMIT and list(results.values()).count(401) <= LIMIT, results
    assert (results[39] == 302) == (PASSWORD in counting.checked)
    assert list(results.values()).count(429) >= 40 - LIMIT - 1


def test_no_free_password_check_slot_is_a_clear_503_that_costs_no_attempt(app, bare_email):
    slots = app.extensions["password_check_slots"] = security.PasswordCheckSlots(1, wait=0.01)
    client = client_for(app)
    client.get("/login")
    with slots.slot():  # another sign-in is being checked and the process allows one at a time
        for _ in range(LIMIT + 2):
            busy = client.post("/login", data={"email": bare_email, "password": PASSWORD})
            assert busy.status_code == 503 and busy.headers["Retry-After"] == "5"
    assert "Hay muchos inicios de sesión en este momento" in page_text(busy)
    # The refused attempts were never evaluated: they did not count towards the limit.
    assert client.post("/login", data={"email": bare_email, "password": PASSWORD}).status_code == 302


def test_password_check_slots_bound_both_the_checks_and_the_waiting():
    slots = security.PasswordCheckSlots(1, wait=5, max_waiting=1)
    entered, release = threading.Event(), threading.Event()
    outcomes: list[str] = []

    def check() -> None:
        try:
            with slots.slot():
                entered.set()
                release.wait(10)
            outcomes.append("checked")
        except security.PasswordChecksBusy:
            outcomes.append("busy")

    holder = threading.Thread(target=check)
    holder.start()
    entered.wait(5)
    waiter = threading.Thread(target=check)  # waits for the slot (there is room for one waiter)
    waiter.start()
    for _ in range(100):
        if slots._waiting == 1:
            break
        threading.Event().wait(0.01)
    with pytest.raises(security.PasswordChecksBusy):  # a third is refused at once, not queued
        with slots.slot():
            pass
    release.set()
    holder.join(5)
    waiter.join(5)
    assert outcomes == ["checked", "checked"]
