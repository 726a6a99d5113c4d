"""What happens outside the connector during a chaos run, besides the sales and refunds: someone counts a
shelf and edits the stock in the ERP, the ERP drops webhook subscriptions (as it does after failed
deliveries), the seller turns the mirror off and on again. And the address the ERP delivers its
webhooks to: a sink that answers 200 to everything (the run judges the subscriptions, not the deliveries).
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connector import services
from sandbox.alegra_inventory import set_stock
from tests.chaos.oracle_writes import STOCKED, erp_subscriptions
from tests.chaos.processes import free_port

log = logging.getLogger("chaos")


class _Accept(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.deliveries += 1

    def log_message(self, *args) -> None:  # quiet
        return


class DeliverySink:
    """An HTTP server on a free port that takes every webhook delivery (``public_url`` of the run)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Accept)
        self.server.deliveries = 0
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="chaos-webhook-sink", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def deliveries(self) -> int:
        return self.server.deliveries

    def start(self) -> DeliverySink:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def edit_erp_stock(seller, erp: str, product, quantity: int) -> None:
    """Someone counted the shelf: the product's stock in the ERP's main warehouse is now ``quantity``."""
    box = seller.box
    if erp == "alegra":
        set_stock(box.alegra_state, box.alegra_state.item_id_for_barcode(product.barcode), 1, quantity)
        return
    state = box.siigo_state
    with state.lock:
        record = state.products[product.reference]
        for row in record["warehouses"][:1]:
            row["quantity"] = quantity
        record["available_quantity"] = sum((Decimal(str(w["quantity"])) for w in record["warehouses"]), Decimal(0))


def edit_stock(rng, sellers, erp: str, count: int) -> int:
    """``count`` products of each seller get a new stock in the ERP; how many edits."""
    edits = 0
    for seller in sellers:
        for product in rng.sample(STOCKED, min(count, len(STOCKED))):
            edit_erp_stock(seller, erp, product, rng.randint(0, 60))
            edits += 1
    return edits


def drop_subscriptions(rng, sellers, count: int) -> int:
    """The ERP drops ``count`` subscriptions of each seller; how many it dropped."""
    dropped = 0
    for seller in sellers:
        listed = erp_subscriptions(seller)
        webhooks = seller.box.erp(seller.erp).state.webhooks
        for subscription in rng.sample(listed, min(count, len(listed))):
            raw_id = int(subscription["id"]) if seller.erp == "alegra" else subscription["id"]
            dropped += bool(webhooks.drop(raw_id))
    return dropped


def toggle_mirror(ctx, sellers, on: bool) -> None:
    """The seller turns the ERP's webhooks off (unsubscribe) or on again, while the faults go on: what a
    lost answer leaves open is settled by the periodic check in the workers."""
    for seller in sellers:
        try:
            if on:
                services.start_erp_mirror(ctx, services.find_erp_connection(ctx, seller.account_id).id)
            else:
                services.stop_erp_mirror(ctx, seller.account_id)
        except Exception as exc:  # noqa: BLE001 - the run judges the end state, not this call
            log.info("mirror %s for seller %s: %s", "on" if on else "off", seller.account_id, exc)
