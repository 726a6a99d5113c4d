"""The benchmark's world: the sandbox in its own process, the sellers, the database, child processes."""

from __future__ import annotations

import logging
import multiprocessing
import queue
import re
import secrets
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The auto-invoicing rules of the demo (tests/conftest.py DEMO_RULES), plus the shipping item.
RULES = ["enabled=true", "order_states=pending,shipped,completed", "invoice_status=open", "stamp=true",
         "match_by=barcode", "apply_taxes=true", "default_email=facturas@tienda.co"]
INVOICEABLE = ("matched", "variant", "shipping", "no_document")
ML_USER_ID_BASE = 187_000_000
_MARKER = re.compile(r"\[CX-\d+-[^\]]+\]")


# Who buys (``--buyers``): the stream's own mix (almost every buyer new, some without a document), or
# one kind only — a new buyer (a document the ERP has never seen), a known one (the ERP already has the
# contact: seeded in the Alegra sandbox before the run, not in the connector's database), or the final
# consumer (no document: the ERP's "consumidor final" contact).
BUYER_KINDS = ("mixed", "new", "known", "final")


def seller_sales(orders: int, seed: int, mix: str, buyers: str = "mixed"):
    """``orders`` sales of the sandbox's stream; ``invoiceable`` keeps only scenarios that get invoiced;
    ``buyers`` gives every sale a buyer of one kind (:data:`BUYER_KINDS`)."""
    from sandbox.catalog import generate_sales

    if mix == "realistic":
        sales = generate_sales(orders, seed=seed)
    else:
        count = max(orders * 2, 10)
        while True:  # the stream is deterministic: a longer one starts with the same sales
            sales = [s for s in generate_sales(count, seed=seed) if s.scenario in INVOICEABLE]
            if len(sales) >= orders:
                sales = sales[:orders]
                break
            count *= 2
    return [_with_buyer(sale, seed, buyers) for sale in sales]


def _with_buyer(sale, seed: int, buyers: str):
    from dataclasses import replace

    from sandbox.catalog import SaleBuyer

    if buyers == "mixed":
        return sale
    old = sale.buyer
    if buyers == "final":
        buyer = SaleBuyer(f"COMPRADOR{sale.number}", None, None, None, None, city=old.city, department=old.department)
    else:  # new or known: a document of this run's own (seed) that no other sale shares
        buyer = SaleBuyer(f"CLIENTE{sale.number}", "Compradora", f"Número {sale.number}", "CC",
                          str(1_100_000_000 + seed * 100_000 + sale.number), city=old.city, department=old.department)
    return replace(sale, buyer=buyer)


def seed_known_contacts(alegra_state, sales) -> int:
    """Create in the Alegra sandbox the contact of every sale's buyer (``--buyers known``)."""
    for sale in sales:
        b = sale.buyer
        alegra_state.add_contact({
            "name": f"{b.first_name} {b.last_name}", "identificationObject": {"type": b.id_type, "number": b.id_number},
            "kindOfPerson": "PERSON_ENTITY", "regime": "SIMPLIFIED_REGIME", "type": ["client"]})
    return len(sales)


def _sandbox_host(conn, sellers: list[dict]) -> None:
    """Serve one Sandbox per seller (own Alegra user, own ML account) until told to stop."""
    logging.basicConfig(level=logging.ERROR)
    from sandbox.knobs import Knobs
    from sandbox.mercadolibre import MercadoLibreState
    from sandbox.server import ML_CLIENT_ID, ML_CLIENT_SECRET, ML_REFRESH_TOKEN, Sandbox

    boxes = []
    try:
        for seller in sellers:
            # Persistent connections, as Alegra serves them: the connector's CPU measured is production's.
            box = Sandbox(order_count=0, seed=seller["seed"], keep_alive=True, alegra_knobs=Knobs(
                rate_limit_per_minute=seller["limit"], rate_window_seconds=seller["window"],
                latency_ms=seller["latency_ms"]))
            box.alegra_state.users = {seller["email"]: seller["token"]}
            sales = seller_sales(seller["orders"], seller["seed"], seller["mix"], seller.get("buyers", "mixed"))
            if seller.get("buyers") == "known":
                seed_known_contacts(box.alegra_state, sales)
            box.ml_state = MercadoLibreState.seeded(
                sales, user_id=seller["ml_user_id"],
                client_id=ML_CLIENT_ID, client_secret=ML_CLIENT_SECRET, refresh_token=ML_REFRESH_TOKEN)
            boxes.append(box.start())
        conn.send({"urls": [{"alegra": b.alegra_url, "ml": b.ml_url} for b in boxes]})
        while True:
            command = conn.recv()
            if command == "stats":
                conn.send([_box_stats(b) for b in boxes])
            elif command == "settle":  # every ERP webhook notice queued so far delivered (or given up)
                conn.send([b.alegra_state.webhooks.wait_idle(60) for b in boxes])
            else:
                break
    finally:
        for box in boxes:
            box.stop()
        conn.close()


def _box_stats(box) -> dict:
    state = box.alegra_state
    with state.lock:
        markers = Counter(m for inv in state.invoices for m in set(_MARKER.findall(str(inv.get("observations") or ""))))
        return {"requests": dict(state.requests), "invoices": len(state.invoices), "contacts": len(state.contacts),
                "max_invoices_per_marker": max(markers.values(), default=0),
                "ml_orders": len(box.ml_state.orders)}


class SandboxHost:
    """The sandbox process seen from the benchmark: start, read the counters, stop."""

    def __init__(self, sellers: list[dict], *, start_timeout: float = 900):
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_sandbox_host, args=(child, sellers), name="sandbox-host", daemon=True)
        self.process.start()
        if not self._conn.poll(start_timeout):
            self.process.kill()
            raise RuntimeError("the sandbox host did not start in time")
        self.urls: list[dict[str, str]] = self._conn.recv()["urls"]

    def stats(self) -> list[dict]:
        self._conn.send("stats")
        return self._conn.recv()

    def settle_webhooks(self) -> bool:
        """Wait until each sandbox ERP has delivered the webhook notices it queued (the mirror's echoes)."""
        self._conn.send("settle")
        return all(self._conn.recv())

    def stop(self) -> None:
        try:
            self._conn.send("stop")
        except (BrokenPipeError, OSError):
            pass
        self.process.join(timeout=30)
        if self.process.is_alive():
            self.process.kill()


def make_settings(kwargs: dict):
    from connector.settings import Settings

    return Settings(_env_file=None, **kwargs)


def connect_bench_seller(ctx, seller: dict, urls: dict[str, str], *, with_erp: bool = True) -> dict[str, int]:
    """An account with its own Alegra user and Mercado Libre account, and the demo's rules."""
    from connector import services
    from sandbox.server import ML_CLIENT_ID, ML_CLIENT_SECRET, ML_REFRESH_TOKEN

    account = services.create_account(ctx, f"Bench {seller['index']} {seller['run_id']}")
    ids = {"account_id": account.id}
    if with_erp:
        erp = services.connect_erp(ctx, account.id, "alegra", {"email": seller["email"], "token": seller["token"],
                                                               "country": "CO"}, base_url=urls["alegra"])
        ids["erp_connection_id"] = erp.id
    channel = services.connect_channel(ctx, account.id, "mercadolibre", {
        "client_id": ML_CLIENT_ID, "client_secret": ML_CLIENT_SECRET, "refresh_token": ML_REFRESH_TOKEN},
        base_url=urls["ml"])
    ids["channel_connection_id"] = channel.id
    if with_erp:
        shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
        services.update_settings(ctx, account.id, RULES + [f"shipping_item_id={shipping.erp_id}"])
    return ids


def mirror_ready(ctx, erp_connection_id: int, *, timeout: float = 300.0) -> dict[str, Any]:
    """What a production seller with the mirror has before the backlog: the ERP's contacts imported (from
    spare window room, as the scheduler's job does) and its webhooks subscribed and seen listed, so a known
    buyer is found locally and the catalog is not re-read. Raises when that state is not reached."""
    import time

    from connector.mirror import webhooks_healthy
    from connector.mirror_contacts import import_contacts_step, mirror_is_complete
    from connector.webhooks import background_work

    deadline, imported = time.monotonic() + timeout, 0
    while not mirror_is_complete(ctx, erp_connection_id):
        if time.monotonic() > deadline:
            raise RuntimeError(f"ERP connection {erp_connection_id}: the mirror was not ready in {timeout:.0f} s "
                               f"(webhooks healthy: {webhooks_healthy(ctx, erp_connection_id)})")
        read = import_contacts_step(ctx, erp_connection_id)
        imported += read
        if not read:
            time.sleep(0.5)  # the window had no spare room (or the subscriptions are still settling)
    background_work.wait_idle(timeout=60)
    return {"contacts_imported": imported, "webhooks_healthy": webhooks_healthy(ctx, erp_connection_id)}


def erp_adapters(ctx, erp_connection_ids: list[int]) -> dict[int, Any]:
    """The context's cached adapter of each ERP connection (created here when missing)."""
    from connector.models import ERPConnection

    with ctx.db.session() as session:
        rows = [session.get(ERPConnection, i) for i in erp_connection_ids]
        return {row.id: ctx.erp_adapter(row) for row in rows}


def adapter_stats(adapters: dict[int, Any]) -> dict[str, dict]:
    return {str(erp_id): {"calls": a.calls, "rate_limit_waited_s": round(a.rate_limit.waited, 3),
                          "rate_limited_429": a.rate_limit.rate_limited} for erp_id, a in adapters.items()}


def _reporting_errors(target: Callable) -> Callable:
    """Run a child's body; a crash is sent back as ``{"_crash": traceback}`` instead of a silent hang."""

    def run(*args) -> None:
        results = args[-2]  # both children take (..., results, use_tracemalloc)
        try:
            target(*args)
        except BaseException:  # noqa: BLE001 - reported to the parent, which stops the run
            import traceback

            results.put({"_crash": traceback.format_exc()})
            raise

    return run


def collect(results, processes: list, count: int) -> list[dict]:
    """``count`` results from children; raises when one reports a crash or dies without answering."""
    collected: list[dict] = []
    while len(collected) < count:
        try:
            item = results.get(timeout=1.0)
        except queue.Empty:
            dead = [p for p in processes if p.exitcode not in (None, 0)]
            if dead and results.empty():
                raise RuntimeError(f"{dead[0].name} died (exit code {dead[0].exitcode})") from None
            continue
        if "_crash" in item:
            raise RuntimeError(f"a benchmark process failed:\n{item['_crash']}")
        collected.append(item)
    return collected


def prepare_database(args, workdir: Path) -> tuple[str, Callable[[], None]]:
    """The database URL to use and how to clean it up (a fresh PostgreSQL schema, or a SQLite file)."""
    if not args.database_url:
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    url = args.database_url
    if url.startswith("sqlite"):
        return url, lambda: None
    from sqlalchemy import create_engine, text

    engine_url = url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url
    engine = create_engine(engine_url)
    schema = f"bench_{secrets.token_hex(5)}"
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in url else "?"

    def drop() -> None:
        if args.keep:
            return
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()

    return f"{url}{separator}options=-csearch_path%3D{schema}", drop


def seller_configs(args, *, orders: int, limit: int, window: float) -> list[dict]:
    run_id = secrets.token_hex(3)
    return [{"index": i, "run_id": run_id, "email": f"bench-{run_id}-{i}@tienda{i}.co",
             "token": f"bench-token-{secrets.token_hex(8)}", "ml_user_id": ML_USER_ID_BASE + i,
             "orders": orders, "seed": args.seed + i, "mix": args.mix, "buyers": getattr(args, "buyers", "mixed"),
             "limit": limit, "window": window,
             "latency_ms": args.latency_ms} for i in range(args.sellers)]


def connector_rate_per_minute(limit: int, window: float) -> int:
    return max(1, round(limit * 60 / window))
