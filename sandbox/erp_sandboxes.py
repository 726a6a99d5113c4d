"""Each ERP sandbox seen the same way, so the demo, the end-to-end tests, the chaos run and the ERP
contract suite take the ERP kind as a parameter and name no ERP: its address, the demo seller's
credentials (and wrong ones), its knobs, the invoices it holds and its after-the-invoice records.

Adding an ERP sandbox adds one entry to :data:`ERP_SANDBOXES` (and to :data:`ERP_SANDBOX_COUNTRIES` when
it serves several countries: ``Sandbox(country=...)``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.knobs import Knobs

if TYPE_CHECKING:
    from sandbox.server import Sandbox


@dataclass(frozen=True)
class ERPSandbox:
    """One ERP sandbox of a running :class:`~sandbox.server.Sandbox`."""

    kind: str
    url: str
    credentials: dict[str, str]
    wrong_credentials: dict[str, str]
    knobs: Knobs
    state: Any  # the sandbox's own state (tests that need its details)
    _invoices: Callable[[], list[dict[str, Any]]]
    _records: Callable[[], dict[str, Any]]
    _use_user: Callable[[str, str], dict[str, str]]

    def invoices(self) -> list[dict[str, Any]]:
        """Every invoice the ERP holds (as its API answers them; ``observations`` carries the marker)."""
        with self.state.lock:
            return list(self._invoices())

    def invoices_for_marker(self, marker: str) -> list[dict[str, Any]]:
        return self.state.invoices_for_marker(marker)

    def records(self) -> dict[str, Any]:
        """After the invoices: ``stamps_emitted``, ``legal_status``, ``emails``, ``payments`` and
        ``credit_notes`` by invoice id."""
        return self._records()

    def use_user(self, name: str, secret: str) -> dict[str, str]:
        """Make ``name``/``secret`` the sandbox's only API user; the credentials that connect as it (each
        chaos seller its own user, so the shared rate limiter keeps one window per seller)."""
        return self._use_user(name, secret)


def _alegra(box: Sandbox) -> ERPSandbox:
    from sandbox.server import ALEGRA_EMAIL, ALEGRA_TOKEN

    state = box.alegra_state
    good = {"email": ALEGRA_EMAIL, "token": ALEGRA_TOKEN, "country": state.country}

    def use_user(name: str, secret: str) -> dict[str, str]:
        state.users = {name: secret}
        return {"email": name, "token": secret, "country": state.country}

    return ERPSandbox("alegra", box.alegra_url, good, {**good, "token": "token-malo"}, box.alegra_knobs, state,
                      lambda: state.invoices, state.records, use_user)


def _siigo(box: Sandbox) -> ERPSandbox:
    from sandbox.server import SIIGO_ACCESS_KEY, SIIGO_USERNAME

    state = box.siigo_state

    def use_user(name: str, secret: str) -> dict[str, str]:
        with state.lock:
            state.users = {name: secret}
            state.users_list[0]["username"] = state.users_list[0]["email"] = name
        return {"username": name, "access_key": secret}

    return ERPSandbox("siigo", box.siigo_url, {"username": SIIGO_USERNAME, "access_key": SIIGO_ACCESS_KEY},
                      {"username": SIIGO_USERNAME, "access_key": "clave-equivocada"}, box.siigo_knobs, state,
                      lambda: state.invoices, state.records, use_user)


ERP_SANDBOXES: dict[str, Callable[[Sandbox], ERPSandbox]] = {"alegra": _alegra, "siigo": _siigo}

# The countries each ERP sandbox serves (``Sandbox(country=...)``); an ERP of one country is absent
# (its sandbox serves its one country whatever the setting: Siigo, Colombia).
ERP_SANDBOX_COUNTRIES: dict[str, tuple[str, ...]] = {"alegra": ("CO", "MX", "PE", "PA")}


def erp_sandbox(box: Sandbox, kind: str) -> ERPSandbox:
    """The sandbox of ERP ``kind`` in ``box``; a clear error when there is none."""
    try:
        return ERP_SANDBOXES[kind](box)
    except KeyError:
        raise KeyError(f"no sandbox for ERP {kind!r}; known: {', '.join(sorted(ERP_SANDBOXES))}") from None


def erp_knobs(kind: str, **values: Any) -> dict[str, Knobs]:
    """``Sandbox(**erp_knobs(kind, ...))``: the knobs of ERP ``kind``'s sandbox set to ``values``."""
    if kind not in ERP_SANDBOXES:
        raise KeyError(f"no sandbox for ERP {kind!r}; known: {', '.join(sorted(ERP_SANDBOXES))}")
    return {f"{kind}_knobs": Knobs(**values)}
