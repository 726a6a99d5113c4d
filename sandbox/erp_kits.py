"""How to start each ERP's sandbox on its own, for the ERP contract suite (tests/erp/test_contract.py).

One entry per registered ERP in :data:`ERP_SANDBOXES` (a second ERP adds its line): a function
``(country) -> ERPSandboxKit`` that serves the ERP's API on loopback and says which credentials open
it. ``knobs`` are the sandbox's fault knobs (:mod:`sandbox.knobs`), so the suite can make the ERP
answer 5xx, stall after committing a write, or go into maintenance.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from werkzeug.serving import make_server

from sandbox import alegra, siigo
from sandbox.knobs import Knobs
from sandbox.server import ALEGRA_EMAIL, ALEGRA_TOKEN, SIIGO_ACCESS_KEY, SIIGO_USERNAME, _QuietHandler


@dataclass
class ERPSandboxKit:
    """A running ERP sandbox: its base URL, the credentials it accepts and refuses, its knobs."""

    kind: str
    country: str | None
    base_url: str
    credentials: dict[str, str]
    bad_credentials: dict[str, str]
    knobs: Knobs
    _stop: Callable[[], None] = field(repr=False, default=lambda: None)

    def stop(self) -> None:
        self._stop()


def _serve(app) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-erp-kit", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    return f"http://127.0.0.1:{server.server_port}", stop


def _alegra(country: str | None) -> ERPSandboxKit:
    knobs = Knobs(rate_limit_per_minute=0, stamp_answer_delay=0.0)
    state = alegra.AlegraState.seeded(users={ALEGRA_EMAIL: ALEGRA_TOKEN}, country=country)
    url, stop = _serve(alegra.create_app(state, knobs))
    good = {"email": ALEGRA_EMAIL, "token": ALEGRA_TOKEN, "country": state.country}
    return ERPSandboxKit(kind="alegra", country=state.country, base_url=url + "/api/v1", credentials=good,
                         bad_credentials={**good, "token": "token-que-no-existe"}, knobs=knobs, _stop=stop)


def _siigo(country: str | None) -> ERPSandboxKit:
    """Siigo Nube invoices in Colombia only: ``country`` is ignored."""
    knobs = Knobs(rate_limit_per_minute=0)
    state = siigo.SiigoState.seeded(users={SIIGO_USERNAME: SIIGO_ACCESS_KEY})
    url, stop = _serve(siigo.create_app(state, knobs))
    good = {"username": SIIGO_USERNAME, "access_key": SIIGO_ACCESS_KEY}
    return ERPSandboxKit(kind="siigo", country="CO", base_url=url, credentials=good,
                         bad_credentials={**good, "access_key": "clave-que-no-existe"}, knobs=knobs, _stop=stop)


# kind -> (how to start its sandbox for a country, the countries its sandbox serves; (None,) for an
# ERP of one country).
ERP_SANDBOXES: dict[str, tuple[Callable[[str | None], ERPSandboxKit], tuple[str | None, ...]]] = {
    "alegra": (_alegra, ("CO", "MX", "PE", "PA")),
    "siigo": (_siigo, (None,)),
}
