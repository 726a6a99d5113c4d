"""Shared fixtures of the sandbox tests: the Alegra sandbox served on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from erp.alegra.adapter import AlegraAdapter
from erp.base import ERPOptions
from sandbox.alegra import AlegraState, create_app
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
