"""Panel sessions kept server-side: sign-out ends them, they expire when idle and after a maximum age,
and a password change (the seller's own, or an operator's reset) ends the other ones."""

from datetime import UTC, datetime, timedelta

import pytest

from connector.users import authenticate, set_password
from tests.admin_ui.conftest import PASSWORD, client_for, make_app, page_text

COOKIE = "connector_session"
NEW_PASSWORD = "una-clave-nueva-456"


class Clock:
    """A clock the test moves (sessions read time only through the app's CLOCK)."""

    def __init__(self):
        self.now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def timed_app(ui_ctx, clock):
    return make_app(ui_ctx, None, CLOCK=clock)


def copy_of(app, client):
    """A second browser holding a copy of ``client``'s session cookie (as a thief would)."""
    thief = client_for(app)
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app, bare_email):
    client = client_for(app, bare_email)
    thief = copy_of(app, client)
    assert thief.get("/").status_code == 200  # the copy works while the session lives
    token = thief.csrf()
    assert client.post("/logout").status_code == 302
    for path in ("/", "/orders", "/connections", "/account/password"):
        response = thief.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), path
    refused = thief.post("/sync/now", data={"csrf_token": token}, csrf=False, headers={"Accept": "application/json"})
    assert refused.status_code in (400, 401)  # its CSRF token went with the session; either way, refused


def test_a_session_ends_after_an_idle_hour(timed_app, clock, bare_email):
    client = client_for(timed_app, bare_email)
    clock.advance(minutes=59)
    assert client.get("/").status_code == 200  # used: the idle hour starts again
    clock.advance(minutes=59)
    assert client.get("/").status_code == 200
    clock.advance(minutes=61)
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_a_session_in_use_still_ends_twelve_hours_after_sign_in(timed_app, clock, bare_email):
    client = client_for(timed_app, bare_email)
    for _ in range(23):
        clock.advance(minutes=30)
        assert client.get("/").status_code == 200
    clock.advance(minutes=31)  # 12 h 1 min after signing in, last used 31 minutes ago
    assert client.get("/").status_code == 302
    assert client_for(timed_app, bare_email).get("/").status_code == 200  # signing in again works


def test_changing_the_password_in_the_panel_ends_the_other_sessions(app, bare_email):
    client = client_for(app, bare_email)
    other = client_for(app, bare_email)  # the same seller on another device
    page = client.get("/account/password")
    assert page.status_code == 200 and "Cambiar contraseña" in page_text(page)
    assert 'href="/account/password"' in client.get("/").get_data(as_text=True)  # reachable from the menu
    response = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                      "new_password_again": NEW_PASSWORD})
    assert response.status_code == 302
    assert "Cambiaste tu contraseña" in page_text(client.get("/"))  # this session goes on
    assert other.get("/").status_code == 302  # the other one is over
    client.post("/logout")
    fresh = client_for(app)
    fresh.get("/login")
    assert fresh.post("/login", data={"email": bare_email, "password": PASSWORD}).status_code == 401
    assert fresh.post("/login", data={"email": bare_email, "password": NEW_PASSWORD}).status_code == 302


@pytest.mark.parametrize("current, new, again, message", [
    ("no-es-la-clave", NEW_PASSWORD, NEW_PASSWORD, "La contraseña actual no es correcta."),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "Las contraseñas nuevas no coinciden."),
    (PASSWORD, "corta", "corta", "al menos 10 caracteres"),
])
def test_a_wrong_password_change_is_explained_and_changes_nothing(app, bare_email, current, new, again, message):
    client = client_for(app, bare_email)
    other = client_for(app, bare_email)
    response = client.post("/account/password", data={"current_password": current, "new_password": new,
                                                      "new_password_again": again})
    assert response.status_code == 400 and message in page_text(response)
    assert new not in response.get_data(as_text=True) and current not in response.get_data(as_text=True)
    assert other.get("/").status_code == 200
    assert client_for(app, bare_email).get("/").status_code == 200  # the old password still signs in


def test_an_operator_reset_ends_every_session(app, ui_ctx, bare_email):
    client = client_for(app, bare_email)
    set_password(ui_ctx, bare_email, NEW_PASSWORD)
    assert client.get("/").status_code == 302


def test_guessing_the_current_password_on_the_change_page_is_throttled_like_sign_in(app, ui_ctx, bare_email):
    client = client_for(app, bare_email)  # e.g. a session left open on a shared computer
    for number in range(8):
        wrong = client.post("/account/password", data={"current_password": f"adivinanza-{number}",
                                                       "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD})
        assert wrong.status_code == 400
    spent = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW_PASSWORD,
                                                   "new_password_again": NEW_PASSWORD})
    assert spent.status_code == 429 and "Demasiados intentos" in page_text(spent)
    authenticate(ui_ctx, bare_email, PASSWORD)  # the password did not change
    fresh = client_for(app)
    fresh.get("/login")  # and the same counter holds for signing in from this address
    assert fresh.post("/login", data={"email": bare_email, "password": PASSWORD}).status_code == 429
