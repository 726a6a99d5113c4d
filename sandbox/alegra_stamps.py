"""The e-invoice lifecycle of the Alegra sandbox: stamping, then the tax authority's (DIAN's) answer.

A stamp (``stamp.generateStamp`` on creation, or ``POST /invoices/stamp``) puts the invoice in
``STAMPED_AND_WAITING_RESPONSE`` with a 96-hex CUFE and counts one emitted document. The authority's
verdict is decided at that moment, on the data sent (the contact as it was then), and shows once
``Knobs.stamp_answer_delay`` seconds have passed — settled lazily whenever the invoice is read, so
no thread is needed:

* rejected (``STAMPED_AND_REJECTED``, reasons in ``stamp.errors``) when the contact has no e-mail
  (rule FAK61; DIAN's generic final consumer 222222222222 is exempt), when its NIT carries a check
  digit that is not DIAN's (rule FAJ24; a missing digit is computed, as Alegra does), or — on the
  first stamp only — for the share ``Knobs.stamp_reject_share`` of invoices, chosen by id (rule
  FAD05e, numbering range);
* else accepted, a small share (:data:`OBSERVATIONS_SHARE`, by id) with observations in
  ``stamp.warnings``.

Stamping again is allowed only after a rejection (the real service would not emit twice).
"""

from __future__ import annotations

import secrets
import time
import zlib
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sandbox.catalog import BOGOTA
from sandbox.countries import COUNTRIES

WAITING = "STAMPED_AND_WAITING_RESPONSE"
ACCEPTED = "STAMPED_AND_ACCEPTED"
ACCEPTED_WITH_OBSERVATIONS = "STAMPED_AND_ACCEPTED_WITH_OBSERVATIONS"
REJECTED = "STAMPED_AND_REJECTED"

NO_EMAIL = "Regla FAK61: el adquiriente no tiene correo electrónico registrado."
WRONG_CHECK_DIGIT = "Regla FAJ24: el dígito de verificación del NIT del adquiriente no es válido."
OUT_OF_RANGE = "Regla FAD05e: el número de la factura no está dentro del rango de numeración autorizado."
OBSERVATION = "Regla FAJ43b: el nombre del adquiriente no coincide con el registrado en el RUT."
OBSERVATIONS_SHARE = 0.05

# DIAN's weights for the NIT check digit, applied from the rightmost digit leftwards.
_NIT_WEIGHTS = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)

Clock = Callable[[], float]


def nit_check_digit(number: str) -> str:
    """DIAN's check digit ("dígito de verificación") of a NIT: weighted sum mod 11; 0 and 1 stay, else 11 - r."""
    digits = [int(c) for c in str(number) if c.isdigit()]
    if not digits or len(digits) > len(_NIT_WEIGHTS):
        raise ValueError(f"not a NIT: {number!r}")
    remainder = sum(d * w for d, w in zip(reversed(digits), _NIT_WEIGHTS)) % 11  # noqa: B905 - weights outnumber
    return str(remainder if remainder < 2 else 11 - remainder)


def share_of(invoice_id: int, salt: str) -> float:
    """A stable number in [0, 1) for an invoice: the same invoice always falls on the same side of a share."""
    return zlib.crc32(f"{salt}:{invoice_id}".encode()) / 2**32


def is_stamped(invoice: dict[str, Any]) -> bool:
    return isinstance(invoice.get("stamp"), dict) and bool(invoice["stamp"].get("legalStatus"))


def may_stamp(invoice: dict[str, Any]) -> bool:
    """Whether a stamp may be emitted now: never stamped, or stamped and rejected."""
    return not is_stamped(invoice) or invoice["stamp"]["legalStatus"] == REJECTED


# Each country's "final consumer" document: an invoice to it needs no e-mail.
FINAL_CONSUMER_IDS = {country.final_consumer[1] for country in COUNTRIES.values()}

def authority_verdict(invoice: dict[str, Any], contact: dict[str, Any] | None, *, first_stamp: bool,
                      reject_share: float) -> dict[str, Any]:
    """The ``stamp`` fields the authority will answer for this invoice as sent now."""
    errors: list[str] = []
    if first_stamp and share_of(invoice["id"], "numbering-range") < reject_share:
        errors.append(OUT_OF_RANGE)
    contact = contact or {}
    identification = contact.get("identificationObject") if isinstance(contact.get("identificationObject"), dict) \
        else {"number": contact.get("identification")}
    number = str(identification.get("number") or "")
    if not str(contact.get("email") or "").strip() and number not in FINAL_CONSUMER_IDS:
        errors.append(NO_EMAIL)
    dv = str(identification.get("dv") or "").strip()
    if str(identification.get("type") or "").upper() == "NIT" and dv and number.isdigit() \
            and dv != nit_check_digit(number):
        errors.append(WRONG_CHECK_DIGIT)
    if errors:
        return {"legalStatus": REJECTED, "errors": errors, "warnings": []}
    if share_of(invoice["id"], "observations") < OBSERVATIONS_SHARE:
        return {"legalStatus": ACCEPTED_WITH_OBSERVATIONS, "errors": [], "warnings": [OBSERVATION]}
    return {"legalStatus": ACCEPTED, "errors": [], "warnings": []}


class StampLedger:
    """Emitted stamps per invoice (the sandbox's own record, for the chaos oracle) and the authority's
    answers still to come. Callers hold the Alegra state's lock."""

    def __init__(self, clock: Clock = time.monotonic):
        self.emitted: dict[int, int] = {}  # invoice id -> fiscal documents emitted
        self._answers: dict[int, tuple[float, dict[str, Any]]] = {}  # invoice id -> (due at, stamp fields)
        self._clock = clock

    def emit(self, invoice: dict[str, Any], contact: dict[str, Any] | None, *, answer_delay: float,
             reject_share: float) -> None:
        """Stamp ``invoice`` (in place): waiting for the answer, a fresh CUFE, one more emitted document."""
        invoice_id = invoice["id"]
        self.emitted[invoice_id] = self.emitted.get(invoice_id, 0) + 1
        verdict = authority_verdict(invoice, contact, first_stamp=self.emitted[invoice_id] == 1,
                                    reject_share=reject_share)
        invoice["stamp"] = {"legalStatus": WAITING, "cufe": secrets.token_hex(48),
                            "date": datetime.now(BOGOTA).strftime("%Y-%m-%d %H:%M:%S"), "errors": [], "warnings": []}
        self._answers[invoice_id] = (self._clock() + max(0.0, answer_delay), verdict)

    def settle(self, invoices: list[dict[str, Any]] | dict[str, Any]) -> None:
        """Apply every answer that is due to ``invoices`` (one invoice or a list)."""
        if not self._answers:
            return
        now = self._clock()
        for invoice in invoices if isinstance(invoices, list) else [invoices]:
            due = self._answers.get(invoice["id"])
            if due is not None and now >= due[0]:
                invoice["stamp"].update(due[1])
                del self._answers[invoice["id"]]

    def waiting(self) -> int:
        """How many stamped invoices still wait for the authority's answer."""
        return len(self._answers)
