"""Admin UI fixtures: one loopback sandbox and one SQLite database per test module (starting and
stopping them per test costs more than the tests), a fresh seller account per test, a fresh app per
test (its sync jobs and password-check slots live in memory; sign-in attempts and sessions are in the
module's database, under each test's own e-mails), and a signed-in test client that sends the
session's CSRF token with its POSTs like the browser does."""

from __future__ import annotations

import re
import uuid

import pytest
from flask.testing import FlaskClient
from sqlalchemy import String, cast, update

from admin_ui import create_app
from connector import services
from connector.context import AppContext
from connector.models import ChannelConnection
from connector.passwords import PasswordHashing
from connector.sync import sync_once
from connector.users import create_user
from sandbox import server as sandbox_server
from sandbox.knobs import Knobs
from tests.conftest import connect_seller, copy_sqlite, make_settings

# 12 sales with seed 76: matched, shipping, fulfillment, and 3 held by unknown SKUs (VELA-AROM-01 twice).
UI_ORDERS, UI_SEED = 12, 76

PASSWORD = "clave-de-prueba-123"
CHEAP_HASHING = PasswordHashing(memory_kib=64, time_cost=1, parallelism=1)
SANDBOX_CREDENTIALS = {
    "alegra": {"email": sandbox_server.ALEGRA_EMAIL, "token": sandbox_server.ALEGRA_TOKEN},
    "mercadolibre": {"client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET},
}


@pytest.fixture(autouse=True, scope="module")
def _cheaper_password_hashing():
    """argon2id with a small work factor: every UI test signs someone in (tests/connector/test_users.py
    checks the real cost)."""
    import connector.users

    patch = pytest.MonkeyPatch()
    patch.setattr(connector.users, "PASSWORD_HASHING", CHEAP_HASHING)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def ui_sandbox():
    box = sandbox_server.Sandbox(order_count=UI_ORDERS, seed=UI_SEED, alegra_knobs=Knobs(rate_limit_per_minute=0))
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def ui_ctx(tmp_path_factory, migrated_sqlite):
    """One SQLite database per module (a copy of the migrated one); every test makes its own seller
    account in it."""
    tmp_path = tmp_path_factory.mktemp("admin-ui")
    url = f"sqlite:///{tmp_path / 'connector.sqlite3'}"
    copy_sqlite(migrated_sqlite, url)
    context = AppContext.from_settings(make_settings(tmp_path, url))
    context.db.migrate()
    yield context
    context.close()
    context.db.dispose()


def free_sandbox_stores(ctx: AppContext) -> None:
    """The module's sandbox has one store per channel, and a store connects to one account only: the
    accounts of earlier tests let theirs go (their remote account id is renamed; orders stay)."""
    with ctx.db.transaction() as session:
        session.execute(update(ChannelConnection)
                        .where(ChannelConnection.remote_account_id.is_not(None),
                               ChannelConnection.remote_account_id.not_like("%:retired:%"))
                        .values(remote_account_id=ChannelConnection.remote_account_id + ":retired:"
                                + cast(ChannelConnection.id, String)))


@pytest.fixture(autouse=True)
def _sandbox_stores_free(request):
    if "ui_ctx" in request.fixturenames:
        free_sandbox_stores(request.getfixturevalue("ui_ctx"))


def fresh_seller(ctx: AppContext, box) -> int:
    """A new seller connected to ``box``. The sandbox has one Mercado Libre seller whose refresh token
    rotates: it is reset first, so the previous seller of the module can no longer pull (tests that
    need two synced sellers sync the first one before connecting the second)."""
    box.ml_state.refresh_token = sandbox_server.ML_REFRESH_TOKEN
    free_sandbox_stores(ctx)
    return connect_seller(ctx, box)


def make_app(ctx: AppContext, box, **config):
    return create_app(ctx, TESTING=True, API_BASE_URLS=box.urls() if box else {},
                      SANDBOX_CREDENTIALS=SANDBOX_CREDENTIALS, **config)


@pytest.fixture
def app(ui_ctx, ui_sandbox):
    return make_app(ui_ctx, ui_sandbox)


def new_account(ctx: AppContext) -> int:
    return services.create_account(ctx, f"Tienda {uuid.uuid4().hex[:6]}").id


def new_user(ctx: AppContext, account_id: int, email: str | None = None) -> str:
    email = email or f"u{uuid.uuid4().hex[:8]}@tienda.co"
    create_user(ctx, account_id, email, PASSWORD)
    return email


class SellerClient(FlaskClient):
    """A test client that adds the session's CSRF token to every form it POSTs (like the browser)."""

    def csrf(self) -> str:
        with self.session_transaction() as session:
            return session.get("csrf", "")

    def post(self, *args, csrf: bool = True, **kwargs):
        if csrf:
            data = dict(kwargs.pop("data", None) or {})
            data.setdefault("csrf_token", self.csrf())
            kwargs["data"] = data
        return super().post(*args, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD):
        self.get("/login")
        response = self.post("/login", data={"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        return response


def client_for(app, email: str | None = None) -> SellerClient:
    app.test_client_class = SellerClient
    client = app.test_client()
    if email:
        client.sign_in(email)
    return client


@pytest.fixture
def ui_seller(ui_ctx, ui_sandbox) -> int:
    """A seller connected to the sandbox with the demo rules (not synced yet)."""
    return fresh_seller(ui_ctx, ui_sandbox)


@pytest.fixture
def synced_seller(ui_ctx, ui_seller) -> int:
    sync_once(ui_ctx, ui_seller)
    return ui_seller


@pytest.fixture
def seller_email(ui_ctx, ui_seller) -> str:
    return new_user(ui_ctx, ui_seller)


@pytest.fixture
def client(app, seller_email) -> SellerClient:
    return client_for(app, seller_email)


def page_text(response) -> str:
    """The visible text of a page, roughly (tags removed, whitespace collapsed)."""
    html = response.get_data(as_text=True)
    html = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def bare_email(ui_ctx) -> str:
    """A user of a new account with nothing connected (cheap: no sandbox calls)."""
    return new_user(ui_ctx, new_account(ui_ctx))


@pytest.fixture
def bare_client(app, bare_email) -> SellerClient:
    return client_for(app, bare_email)
