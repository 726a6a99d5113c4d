"""Run the sandbox servers on loopback, in threads (tests, demo) or in the foreground (``python -m sandbox``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from sandbox import alegra, mercadolibre, shopify, siigo, woocommerce
from sandbox.catalog import generate_sales
from sandbox.countries import COUNTRIES
from sandbox.knobs import Knobs
from sandbox.refunds import RefundTicker
from sandbox.webhooks import MercadoLibreNotifier

# The demo seller's credentials in the sandbox. They only open the loopback sandbox.
ALEGRA_EMAIL = "facturacion@tiendacafetera.co"
ALEGRA_TOKEN = "sandbox-alegra-token-2f9c"
SIIGO_USERNAME = "api@tiendacafetera.co"
SIIGO_ACCESS_KEY = "c2FuZGJveC1zaWlnby1hY2Nlc3Mta2V5LTdiMmE="
ML_CLIENT_ID = "5501234567890123"
ML_CLIENT_SECRET = "sandbox-ml-secret-7d1e"
ML_REFRESH_TOKEN = "TG-sandbox-refresh-0001"
ML_USER_ID = 187654321
SHOPIFY_SHOP = "tienda-cafetera.myshopify.com"
SHOPIFY_ACCESS_TOKEN = "shpat_sandbox_5c0ffee0a1b2c3d4"
SHOPIFY_WEBHOOK_SECRET = "sandbox-shopify-webhook-secret-3e7a"
WOO_CONSUMER_KEY = "ck_sandbox_4f1e2d3c4b5a69788796a5b4c3d2e1f0"
WOO_CONSUMER_SECRET = "cs_sandbox_0f1e2d3c4b5a69788796a5b4c3d2e1f4"
# Each channel's seeded sales come from its own seed, so the three stores sell different orders.
SHOPIFY_SEED_OFFSET = 101
WOO_SEED_OFFSET = 202
# How often a serve loop looks for a shutdown request: stop() waits up to this long (werkzeug's default,
# half a second, made every test that starts a sandbox half a second longer).
SHUTDOWN_POLL_SECONDS = 0.05


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request (tests and the demo make thousands)."""

    def log_request(self, *args, **kwargs) -> None:
        return None


class _KeepAliveHandler(_QuietHandler):
    """HTTP/1.1 with persistent connections, as the real APIs answer (werkzeug's documented switch):
    each request does not pay for a new connection. The benchmarks serve this way, so the client's
    CPU they measure is what production costs; tests keep the default (HTTP/1.0, one connection per
    request), which the fault knobs (dropped and half-answered requests) are written for."""

    protocol_version = "HTTP/1.1"


@dataclass
class _Served:
    name: str
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"


@dataclass
class Sandbox:
    """Every sandbox API, its state and its knobs. ``start()`` serves them on loopback threads.

    Shopify and WooCommerce are seeded with ``order_count`` sales each (their own seeds). Webhooks:
    ``shopify_state.subscribe``/``woo_state.subscribe`` and ``ml_notifier.subscribe`` point the
    stores at the connector; changes made through them are then delivered, signed as the real ones.

    Refunds (:mod:`sandbox.refunds`): ``refund_share`` of each store's paid sales (0 by default: none)
    are refunded ``5-120`` sandbox minutes after the sandbox is made, a sandbox minute lasting
    ``refund_minute_seconds`` seconds; a started sandbox gives them as they fall due, and
    :meth:`release_refunds` gives them all now. ``<store>_state.refund(order_id, ...)`` refunds on
    demand; :meth:`refund_records` lists every refund given, per channel.
    """

    order_count: int = 60
    seed: int = 7
    alegra_knobs: Knobs = field(default_factory=Knobs)
    ml_knobs: Knobs = field(default_factory=lambda: Knobs(rate_limit_per_minute=0))
    alegra_port: int = 0
    ml_port: int = 0
    quiet: bool = True
    shopify_knobs: Knobs = field(default_factory=lambda: Knobs(rate_limit_per_minute=0))
    woo_knobs: Knobs = field(default_factory=lambda: Knobs(rate_limit_per_minute=0))
    shopify_port: int = 0
    woo_port: int = 0
    refund_share: float = 0.0
    refund_minute_seconds: float = 1.0
    ml_user_id: int = ML_USER_ID  # two sandboxes in one database are two stores only with distinct ids
    # The Alegra account's and the Mercado Libre site's country (sandbox.countries); Shopify and
    # WooCommerce stay Colombian stores.
    country: str = "CO"
    # Siigo: 100 requests a minute per company, as documented (Siigo serves Colombia only).
    siigo_knobs: Knobs = field(default_factory=lambda: Knobs(rate_limit_per_minute=100))
    siigo_port: int = 0
    keep_alive: bool = False  # persistent HTTP/1.1 connections (_KeepAliveHandler); quiet only

    def __post_init__(self) -> None:
        self.alegra_state = alegra.AlegraState.seeded(users={ALEGRA_EMAIL: ALEGRA_TOKEN}, country=self.country)
        self.siigo_state = siigo.SiigoState.seeded(users={SIIGO_USERNAME: SIIGO_ACCESS_KEY})
        self.ml_state = mercadolibre.MercadoLibreState.seeded(
            generate_sales(self.order_count, seed=self.seed, refund_share=self.refund_share, country=self.country),
            user_id=self.ml_user_id, client_id=ML_CLIENT_ID, client_secret=ML_CLIENT_SECRET,
            refresh_token=ML_REFRESH_TOKEN, country=self.country,
        )
        self.ml_notifier = MercadoLibreNotifier(self.ml_state, application_id=ML_CLIENT_ID)
        self.shopify_state = shopify.ShopifyState.seeded(
            generate_sales(self.order_count, seed=self.seed + SHOPIFY_SEED_OFFSET, refund_share=self.refund_share),
            shop=SHOPIFY_SHOP, access_token=SHOPIFY_ACCESS_TOKEN)
        self.woo_state = woocommerce.WooCommerceState.seeded(
            generate_sales(self.order_count, seed=self.seed + WOO_SEED_OFFSET, refund_share=self.refund_share),
            consumer_key=WOO_CONSUMER_KEY, consumer_secret=WOO_CONSUMER_SECRET)
        self._served: dict[str, _Served] = {}
        for store in self.refunding_stores():
            store.refund_minute_seconds = self.refund_minute_seconds
        self._refund_ticker: RefundTicker | None = None

    def refunding_stores(self) -> list:
        """The marketplace states that give refunds (Mercado Libre, Shopify, WooCommerce)."""
        return [self.ml_state, self.shopify_state, self.woo_state]

    def release_refunds(self) -> list[dict]:
        """Give every planned refund of every store now; their records."""
        return [record for store in self.refunding_stores() for record in store.release_refunds()]

    def refund_records(self) -> dict[str, list[dict]]:
        """Every refund given so far, per channel (``{"mercadolibre": [...], ...}``)."""
        return {store.channel: store.refund_records() for store in self.refunding_stores()}

    def start(self) -> Sandbox:
        self._serve("alegra", alegra.create_app(self.alegra_state, self.alegra_knobs), self.alegra_port)
        self._serve("siigo", siigo.create_app(self.siigo_state, self.siigo_knobs), self.siigo_port)
        self._serve("mercadolibre", mercadolibre.create_app(self.ml_state, self.ml_knobs), self.ml_port)
        self._serve("shopify", shopify.create_app(self.shopify_state, self.shopify_knobs), self.shopify_port)
        self._serve("woocommerce", woocommerce.create_app(self.woo_state, self.woo_knobs), self.woo_port)
        self.woo_state.home = self.woo_url
        if any(store.planned_refunds() for store in self.refunding_stores()):
            self._refund_ticker = RefundTicker(self.refunding_stores()).start()
        return self

    def _serve(self, name: str, app, port: int) -> None:
        handler = (_KeepAliveHandler if self.keep_alive else _QuietHandler) if self.quiet else WSGIRequestHandler
        server = make_server("127.0.0.1", port, app, threaded=True, request_handler=handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
                                  name=f"sandbox-{name}", daemon=True)
        thread.start()
        self._served[name] = _Served(name, server, thread)

    @property
    def alegra_url(self) -> str:
        """Base URL the Alegra adapter uses (the API lives under ``/api/v1``)."""
        return self._served["alegra"].url + "/api/v1"

    @property
    def siigo_url(self) -> str:
        """Stands for ``https://api.siigo.com`` (the adapter adds ``/auth`` and ``/v1/...``)."""
        return self._served["siigo"].url

    @property
    def ml_url(self) -> str:
        return self._served["mercadolibre"].url

    @property
    def shopify_url(self) -> str:
        """Stands for ``https://{shop}``: the Shopify adapter adds ``/admin/api/{version}``."""
        return self._served["shopify"].url

    @property
    def woo_url(self) -> str:
        """The store's address: the WooCommerce adapter adds ``/wp-json/wc/v3``."""
        return self._served["woocommerce"].url

    def erp(self, kind: str):
        """The ERP sandbox of ``kind`` seen the same way for every ERP (:mod:`sandbox.erp_sandboxes`)."""
        from sandbox.erp_sandboxes import erp_sandbox

        return erp_sandbox(self, kind)

    def channel(self, kind: str):
        """The marketplace sandbox of ``kind`` seen the same way for every channel
        (:mod:`sandbox.channel_sandboxes`)."""
        from sandbox.channel_sandboxes import channel_sandbox

        return channel_sandbox(self, kind)

    def urls(self) -> dict[str, str]:
        urls = {"alegra": self.alegra_url, "mercadolibre": self.ml_url}
        for name, prop in (("shopify", "shopify_url"), ("woocommerce", "woo_url"), ("siigo", "siigo_url")):
            if name in self._served:
                urls[name] = getattr(self, prop)
        return urls

    def stop(self) -> None:
        if self._refund_ticker is not None:
            self._refund_ticker.stop()
            self._refund_ticker = None
        # All at once: each shutdown waits for its serve loop's next poll (SHUTDOWN_POLL_SECONDS).
        stoppers = [threading.Thread(target=served.server.shutdown) for served in self._served.values()]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        for served in self._served.values():
            served.server.server_close()
        self._served.clear()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__)
    parser.add_argument("--orders", type=int, default=60, help="how many marketplace orders to seed")
    parser.add_argument("--seed", type=int, default=7, help="random seed of the order stream")
    parser.add_argument("--alegra-port", type=int, default=8702)
    parser.add_argument("--ml-port", type=int, default=8701)
    parser.add_argument("--shopify-port", type=int, default=8703)
    parser.add_argument("--woo-port", type=int, default=8704)
    parser.add_argument("--siigo-port", type=int, default=8705)
    parser.add_argument("--rate-limit", type=int, default=150, help="Alegra requests per minute per user")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--stamp-answer-delay", type=float, default=1.0,
                        help="Alegra: seconds until DIAN answers a stamped e-invoice")
    parser.add_argument("--stamp-reject-share", type=float, default=0.0,
                        help="Alegra: share of invoices whose first stamp DIAN rejects (numbering range)")
    parser.add_argument("--refund-share", type=float, default=0.0,
                        help="share of paid marketplace sales refunded later (full, partial, shipping, several)")
    parser.add_argument("--refund-minute-seconds", type=float, default=1.0,
                        help="real seconds per sandbox minute until a planned refund (5-120 minutes after seeding)")
    parser.add_argument("--country", default="CO", choices=sorted(COUNTRIES),
                        help="the Alegra account's and the Mercado Libre site's country")
    parser.add_argument("--urls-file", type=Path, help="write the servers' base URLs here as JSON")
    args = parser.parse_args(argv)

    sandbox = Sandbox(
        country=args.country,
        order_count=args.orders, seed=args.seed, alegra_port=args.alegra_port, ml_port=args.ml_port,
        shopify_port=args.shopify_port, woo_port=args.woo_port, siigo_port=args.siigo_port,
        refund_share=args.refund_share,
        refund_minute_seconds=args.refund_minute_seconds,
        alegra_knobs=Knobs(rate_limit_per_minute=args.rate_limit, latency_ms=args.latency_ms,
                           error_rate=args.error_rate, stamp_answer_delay=args.stamp_answer_delay,
                           stamp_reject_share=args.stamp_reject_share),
    ).start()
    urls = sandbox.urls()
    if args.urls_file:
        args.urls_file.write_text(json.dumps(urls))
    print(json.dumps(urls), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    sandbox.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
