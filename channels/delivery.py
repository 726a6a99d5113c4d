"""Invoice delivery for channels whose buyer gets the invoice by the ERP's e-mail (``erp_email``).

Such a marketplace takes no document on the order, so there is nothing to refuse, nothing attached
and nothing to upload. Adapters mix :class:`ErpEmailDelivery` in rather than each writing the same
three methods; the core never calls ``upload_fiscal_document`` for them, and if it did, the order
goes to the error queue with a clear reason instead of crashing.
"""

from __future__ import annotations

from typing import ClassVar

from channels.base import InvoiceDelivery
from connector.canonical import Order
from connector.errors import PermanentRejection


class ErpEmailDelivery:
    """The ``invoice_delivery`` part of :class:`channels.base.ChannelAdapter` for ``erp_email`` channels."""

    display_name: ClassVar[str]
    invoice_delivery: ClassVar[str] = InvoiceDelivery.ERP_EMAIL

    def invoice_delivery_refusal(self, order: Order) -> str | None:
        """Never refused here: the ERP e-mails the invoice (the buyer's e-mail is the core's concern)."""
        return None

    def fiscal_documents(self, order: Order) -> list[str]:
        """Nothing is ever attached on the marketplace."""
        return []

    def upload_fiscal_document(self, order: Order, content: bytes, filename: str) -> str:
        """Not a thing this marketplace takes."""
        raise PermanentRejection(f"{self.display_name} no recibe facturas adjuntas al pedido: "
                                 "el ERP se la envía al comprador por correo.",
                                 detail=f"upload_fiscal_document on an erp_email channel ({self.display_name})")
