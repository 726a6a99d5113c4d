"""Shared fixtures of the sandbox tests: the Alegra and Mercado Libre sandboxes served on loopback ports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import WSGIRequestHandler, make_server

from channels.base import ChannelOptions
from channels.mercadolibre.adapter import MercadoLibreAdapter
from erp.alegra.adapter import AlegraAdapter
from erp.base import ERPOptions
from sandbox import mercadolibre
from sandbox.alegra import AlegraState, create_app
from sandbox.catalog import generate_sales
from sandbox.knobs import Knobs

EMAIL, TOKEN = "facturacion@tiendacafetera.co", "sandbox-token-1"
OTHER_EMAIL, OTHER_TOKEN = "contador@tiendacafetera.co", "sandbox-token-2"


@dataclass
class Served:
    state: AlegraState
    knobs: Knobs
    url: str

    def adapter(self, *, email: str = EMAIL, token: str = TOKEN, timeout: float = 5.0,
                sleep=lambda _s: None) -> AlegraAdapter:
        return AlegraAdapter({"email": email, "token": token, "country": "CO"},
                             ERPOptions(base_url=self.url, timeout=timeout), sleep=sleep)


@pytest.fixture
def served() -> Iterator[Served]:
    state = AlegraState.seeded(users={EMAIL: TOKEN, OTHER_EMAIL: OTHER_TOKEN})
    knobs = Knobs(rate_limit_per_minute=0)
    server = make_server("127.0.0.1", 0, create_app(state, knobs), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield Served(state, knobs, f"http://127.0.0.1:{server.server_port}/api/v1")
    server.shutdown()
    server.server_close()


# -- Mercado Libre ---------------------------------------------------------------------------------

USER_ID = 187654321
CLIENT_ID = "5501234567890123"
CLIENT_SECRET = "sandbox-ml-secret"
REFRESH_TOKEN = "TG-sandbox-refresh-0001"
SALES = generate_sales(120, seed=7)


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture
def sandbox():
    """A fresh seeded state served on a loopback port; yields (state, knobs, base_url)."""
    state = mercadolibre.MercadoLibreState.seeded(SALES, user_id=USER_ID, client_id=CLIENT_ID,
                                                  client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    knobs = Knobs(rate_limit_per_minute=0)
    server = make_server("127.0.0.1", 0, mercadolibre.create_app(state, knobs), threaded=True,
                         request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield state, knobs, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def adapter_for(base_url: str, saved: list[dict] | None = None, **overrides) -> MercadoLibreAdapter:
    credentials = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
                   **overrides}
    return MercadoLibreAdapter(credentials, ChannelOptions(base_url=base_url),
                               on_credentials_changed=saved.append if saved is not None else None,
                               sleep=lambda _: None)
