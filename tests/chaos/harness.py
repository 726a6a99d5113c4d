"""The chaos run: the production shape under fire, judged by the ERP's own records.

Several Celery worker processes and beat run on PostgreSQL and a real Redis server, against the
loopback sandbox (one per seller: its own ERP user, Mercado Libre account, Shopify and
WooCommerce stores). While they pull and invoice the backlog — and new sales keep arriving — the
run injects what production will do to them:

* the sandbox Alegra answers 5xx, bursts of 429, stalls after committing an invoice (the client
  times out), drops connections before and after committing, and goes into maintenance windows;
  the stores answer some 5xx too;
* workers are SIGKILLed at random — the whole process group (a lost machine) or one pool child
  (a crashed task) — and started again; beat is killed once;
* the Redis server is killed and restarted (every queued message and rate-limit window is lost);
* the ERP's stock is published on every store and the ERP's webhooks are subscribed: stock writes and
  subscription creates/deletes lose answers too; someone edits stock in the ERP, the ERP drops
  subscriptions, the seller turns the webhooks off and on (:mod:`tests.chaos.outside`).

Then faults stop, the backlog settles, and :func:`tests.chaos.oracle.verify` checks from the
sandbox's stored invoices: exactly one invoice per eligible order, for what the buyer paid; none
lost; every other order in its expected state with a reason; nothing left in flight; and
``reconcile`` agrees. :func:`tests.chaos.oracle_writes.verify_writes` checks every listing shows the
ERP's stock, no stock write was repeated, and one live subscription per event.

``python -m tests.chaos --help`` runs it from the command line (``make chaos``: 10 000 orders).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from connector import services
from connector.context import AppContext
from connector.models import InvoiceAttempt
from connector.settings import Settings
from connector.states import OrderState
from connector.stock_services import update_stock_settings
from sandbox import server as sandbox_server
from sandbox.catalog import BOGOTA, SaleSpec
from sandbox.erp_sandboxes import erp_knobs
from tests.chaos.oracle import (
    ACTIVE_STATES,
    EXPECTED,
    SellerWorld,
    Verdict,
    channel_sales,
    followups_left,
    state_counts,
    trails,
    verify,
)
from tests.chaos.oracle_writes import verify_writes, writes_left, writes_settled
from tests.chaos.outside import DeliverySink, drop_subscriptions, edit_stock, toggle_mirror
from tests.chaos.processes import ManagedProcess, PrivateRedis, connector_command
from tests.conftest import DEMO_RULES

log = logging.getLogger("chaos")
CHANNELS = ("mercadolibre", "shopify", "woocommerce")


@dataclass
class ChaosPlan:
    """What to run and what to throw at it. ``orders`` and ``trickle`` are per seller and channel."""

    sellers: int = 2
    orders: int = 20  # in each store before the workers start
    trickle: int = 6  # more sales arriving in each store during the run
    workers: int = 3
    concurrency: int = 2
    kill_every: float = 5.0  # mean seconds between two kills
    # Events happen at a share of the work done (invoices in the sandbox ERPs / eligible orders), so
    # they hit a busy system however fast the machine is.
    redis_restart_at: float = 0.3
    beat_kill_at: float = 0.6
    # (share of the work done, seconds) of each Alegra maintenance window: a short one the requestor's
    # retries ride out, a long one that opens the circuit breaker (orders wait in waiting_erp).
    maintenance: tuple[tuple[float, float], ...] = ((0.15, 4.0), (0.45, 12.0))
    trickle_seconds: float = 15.0  # new sales arrive over this long
    error_rate: float = 0.03  # Alegra 5xx before doing anything (every endpoint)
    burst_429_rate: float = 0.02
    timeout_after_commit_rate: float = 0.03
    reset_after_commit_rate: float = 0.03
    reset_before_commit_rate: float = 0.02
    channel_error_rate: float = 0.02  # the stores' 5xx
    upload_lost_answer_rate: float = 0.1  # Mercado Libre: an upload committed, then its answer stalled / dropped
    limit: int = 40  # Alegra's limit per window and user, as the sandbox enforces it
    window_seconds: float = 2.0
    dispatch_lease: int = 5  # a message lost with a killed worker or Redis delays its order this long
    http_timeout: float = 1.5  # the connector's; an invoice answer stalled longer than this is "timed out"
    commit_stall_seconds: float = 3.0  # how long the sandbox stalls after committing (> http_timeout)
    stamp_answer_delay: float = 0.5  # the sandbox tax authority's answer to a stamped e-invoice
    # Buyers get money back on invoiced orders at these shares of the work done (credit notes, automatic).
    refunds_at: tuple[float, ...] = (0.5, 0.8)
    refunds_per_round: int = 4  # orders refunded per seller each time
    # Stock published on every store (connector/stock.py) and the ERP's webhooks (connector/mirror.py).
    stock_lost_answer_rate: float = 0.1  # a store's stock write committed, then its answer lost
    subscription_lost_answer_rate: float = 0.2  # the ERP's subscription create/delete, likewise
    stock_edits_at: tuple[float, ...] = (0.2, 0.4, 0.6)  # someone edits stock in the ERP
    stock_edits_per_round: int = 3  # products per seller
    subscription_drops_at: tuple[float, ...] = (0.2, 0.45, 0.7)  # the ERP drops subscriptions
    subscription_drops_per_round: int = 2  # per seller
    mirror_off_on: tuple[float, float] = (0.35, 0.6)  # the seller turns the webhooks off, then on
    stock_interval: int = 2  # seconds between stock sweeps (pending items)
    stock_full_sync: int = 30  # seconds between full comparisons (what catches an edit made in the ERP)
    stock_lease: int = 10
    mirror_check_interval: int = 5  # seconds between checks of the subscriptions (dropped ones come back)
    chaos_timeout: float = 240.0  # faults and kills stop after this long even when work remains
    settle_timeout: float = 180.0  # then everything must settle within this long
    seed: int = 11
    erp: str = "alegra"  # the ERP every seller invoices into (a key of sandbox.erp_sandboxes.ERP_SANDBOXES)

    @classmethod
    def large(cls, orders_total: int = 10_000, sellers: int = 2) -> ChaosPlan:
        """About ``orders_total`` orders in all, the faults of the small run, events spread over the run."""
        per_channel = max(1, orders_total // (sellers * len(CHANNELS)))
        return cls(sellers=sellers, orders=int(per_channel * 0.9), trickle=per_channel - int(per_channel * 0.9),
                   workers=4, concurrency=2, kill_every=8.0, redis_restart_at=0.3, beat_kill_at=0.5,
                   maintenance=((0.1, 5.0), (0.4, 20.0), (0.7, 30.0)), trickle_seconds=300.0,
                   limit=400, window_seconds=2.0, dispatch_lease=30, http_timeout=5.0, commit_stall_seconds=8.0,
                   chaos_timeout=3600.0, settle_timeout=900.0, stock_full_sync=20, stock_lease=30,
                   mirror_check_interval=5)


@dataclass
class ChaosReport(Verdict):
    """The oracle's verdict (:class:`tests.chaos.oracle.Verdict`) and what the run threw at the system."""

    plan: dict = field(default_factory=dict)
    kills: Counter = field(default_factory=Counter)
    redis_restarts: int = 0
    maintenance_windows: int = 0
    injected: Counter = field(default_factory=Counter)
    attempts: Counter = field(default_factory=Counter)
    waited_for_erp: int = 0  # orders that waited in waiting_erp (the circuit breaker) at least once
    refunds_given: int = 0  # refunds the stores gave on invoiced orders during the run
    stock_edits: int = 0  # stock edited in the ERPs during the run
    subscriptions_dropped: int = 0  # subscriptions the ERPs dropped during the run
    mirror_toggles: int = 0  # the webhooks turned off and on again (per seller)
    webhook_deliveries: int = 0  # deliveries the ERPs made to the run's address
    stock_listings_checked: int = 0
    stock_writes: int = 0  # stock writes the stores accepted
    stock_writes_repeated: int = 0  # of which changed nothing (must be 0)
    stock_settled_by_reading: int = 0
    subscriptions_live: int = 0
    chaos_seconds: float = 0.0
    settle_seconds: float = 0.0
    end_states: dict = field(default_factory=dict)
    logs: str = ""

    def as_dict(self) -> dict:
        # Not dataclasses.asdict: it rebuilds a Counter from (key, value) pairs, counting the pairs.
        return {f.name: (dict(getattr(self, f.name)) if isinstance(getattr(self, f.name), Counter)
                         else getattr(self, f.name)) for f in fields(self) if f.name != "suspects"}

    def summary(self) -> str:
        lines = [
            f"orders {self.orders}: eligible {self.eligible}, invoiced {self.invoiced} (ERP holds {self.erp_invoices}; "
            f"{self.recovered} found in the ERP after an ambiguous answer), error queue {self.error_queue}, "
            f"skipped/waiting by rule {self.skipped_or_waiting}",
            f"chaos {self.chaos_seconds:.1f} s, settle {self.settle_seconds:.1f} s; "
            f"kills {dict(self.kills)}, Redis restarts {self.redis_restarts}, maintenance windows "
            f"{self.maintenance_windows}",
            f"faults injected {dict(self.injected)}",
            f"invoice attempts by outcome {dict(self.attempts)}; {self.waited_for_erp} orders waited for the ERP",
            f"after the invoice: {self.after_summary()}",
            f"refunds: {self.refunds_given} given by the stores; {self.credit_notes} credit notes in the ERP",
            f"stock: {self.stock_edits} edits in the ERP; {self.stock_writes} writes to the stores "
            f"({self.stock_writes_repeated} repeated, {self.stock_settled_by_reading} settled by reading after a "
            f"lost answer); {self.stock_listings_checked} listings equal the ERP's stock",
            f"webhooks: {self.subscriptions_dropped} subscriptions dropped by the ERP, mirror off and on "
            f"{self.mirror_toggles} times, {self.subscriptions_live} live at the end (one per event), "
            f"{self.webhook_deliveries} deliveries",
            f"end states {self.end_states}",
        ]
        if self.problems:
            lines += ["PROBLEMS:", *self.problems, "LOGS:", self.logs]
        return "\n".join(lines)


def run_chaos(plan: ChaosPlan, *, database_url: str, workdir: Path) -> ChaosReport:
    """Run ``plan`` on ``database_url`` (a fresh PostgreSQL schema), files in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(plan.seed)
    report = ChaosReport(plan=asdict(plan))
    redis_server = PrivateRedis(workdir).start()
    sink = DeliverySink().start()
    boxes: list[sandbox_server.Sandbox] = []
    processes: list[ManagedProcess] = []
    ctx = None
    try:
        settings = _settings(plan, database_url, redis_server.url, workdir, sink.url)
        ctx = AppContext.from_settings(settings)
        ctx.db.migrate()
        sellers = [_seller(ctx, plan, i, boxes) for i in range(plan.sellers)]
        env = _environment(settings)
        beat = ManagedProcess("beat", connector_command("beat"), env=env, cwd=workdir, log_dir=workdir)
        workers = [ManagedProcess(f"worker{i}", connector_command("worker", "--concurrency", str(plan.concurrency),
                                                                  "--name", f"chaos{i}"),
                                  env=env, cwd=workdir, log_dir=workdir) for i in range(plan.workers)]
        processes = [beat, *workers]
        for process in processes:
            process.start()
        for box in boxes:
            _faults_on(plan, box)
        started = time.monotonic()
        _chaos_loop(ctx, plan, rng, report, sellers, redis_server, beat, workers, started)
        report.chaos_seconds = time.monotonic() - started
        for box in boxes:
            _faults_off(box, plan.erp)
        settle_started = time.monotonic()
        for process in processes:  # everything that was killed is back
            if not process.alive():
                process.start()
        _wait_settled(ctx, plan, sellers, deadline=settle_started + plan.settle_timeout)
        report.settle_seconds = time.monotonic() - settle_started
        for process in processes:
            process.stop()
        verify(ctx, sellers, into=report)
        writes = verify_writes(ctx, sellers)
        for name in ("stock_listings_checked", "stock_writes", "stock_writes_repeated", "stock_settled_by_reading",
                     "subscriptions_live"):
            setattr(report, name, getattr(writes, name))
        for problem in writes.problems:
            report.problem(problem)
        report.webhook_deliveries = sink.deliveries
        report.redis_restarts = redis_server.restarts
        report.end_states = dict(state_counts(ctx))
        for box in boxes:
            report.injected.update(box.erp(plan.erp).knobs.injected)
            for knobs in (box.ml_knobs, box.shopify_knobs, box.woo_knobs):
                report.injected.update({f"store_{k}": n for k, n in knobs.injected.items()})
        report.attempts = _attempt_outcomes(ctx)
        report.waited_for_erp = _orders_that_waited_for_the_erp(ctx)
        if report.problems:
            report.logs = trails(ctx, report.suspects) + "\n" + "\n".join(
                f"== {p.name} ==\n{p.tail(25)}" for p in [*processes, redis_server.process])
        return report
    finally:
        for process in processes:
            process.stop()
        redis_server.stop()
        for box in boxes:
            box.stop()
        sink.stop()
        if ctx is not None:
            ctx.close()
            ctx.db.dispose()


def _settings(plan: ChaosPlan, database_url: str, redis_url: str, workdir: Path, public_url: str) -> Settings:
    return Settings(
        _env_file=None, data_dir=workdir, database_url=database_url, redis_url=redis_url, mode="sandbox",
        secret_keys=Fernet.generate_key().decode(), log_level="WARNING",
        sync_interval_seconds=2, sweep_interval_seconds=1, dispatch_lease_seconds=plan.dispatch_lease,
        pull_lease_seconds=15, retry_backoff_seconds=2.0,
        reconcile_delay_seconds=1, claim_lease_seconds=max(6, int(plan.http_timeout * 4)),
        http_timeout_seconds=plan.http_timeout,
        circuit_threshold=3, circuit_first_pause_seconds=1.0, circuit_max_pause_seconds=4.0,
        erp_rate_limit_per_minute=round(plan.limit * 60 / plan.window_seconds), rate_limit_max_sleep_seconds=0.5,
        legal_status_check_seconds=plan.stamp_answer_delay, public_url=public_url,
        stock_interval_seconds=plan.stock_interval, stock_full_sync_seconds=plan.stock_full_sync,
        stock_lease_seconds=plan.stock_lease, mirror_check_interval_seconds=plan.mirror_check_interval)


def _environment(settings: Settings) -> dict[str, str]:
    """The same settings for the worker and beat processes, as environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNECTOR_") and k not in ("DATABASE_URL",
                                                                                                "REDIS_URL")}
    env.update({
        "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "CONNECTOR_MODE": settings.mode,
        "CONNECTOR_DATA_DIR": str(settings.data_dir), "CONNECTOR_LOG_LEVEL": settings.log_level,
        "CONNECTOR_SECRET_KEYS": settings.secret_keys.get_secret_value(),
        "CONNECTOR_SYNC_INTERVAL": str(settings.sync_interval_seconds),
        "CONNECTOR_SWEEP_INTERVAL": str(settings.sweep_interval_seconds),
        "CONNECTOR_DISPATCH_LEASE": str(settings.dispatch_lease_seconds),
        "CONNECTOR_PULL_LEASE": str(settings.pull_lease_seconds),
        "CONNECTOR_RETRY_BACKOFF": str(settings.retry_backoff_seconds),
        "CONNECTOR_RECONCILE_DELAY": str(settings.reconcile_delay_seconds),
        "CONNECTOR_CLAIM_LEASE": str(settings.claim_lease_seconds),
        "CONNECTOR_HTTP_TIMEOUT": str(settings.http_timeout_seconds),
        "CONNECTOR_CIRCUIT_THRESHOLD": str(settings.circuit_threshold),
        "CONNECTOR_CIRCUIT_PAUSE": str(settings.circuit_first_pause_seconds),
        "CONNECTOR_CIRCUIT_MAX_PAUSE": str(settings.circuit_max_pause_seconds),
        "CONNECTOR_ERP_RATE_LIMIT": str(settings.erp_rate_limit_per_minute),
        "CONNECTOR_RATE_LIMIT_MAX_SLEEP": str(settings.rate_limit_max_sleep_seconds),
        "CONNECTOR_LEGAL_STATUS_CHECK": str(settings.legal_status_check_seconds),
        "CONNECTOR_PUBLIC_URL": settings.public_url,
        "CONNECTOR_STOCK_INTERVAL": str(settings.stock_interval_seconds),
        "CONNECTOR_STOCK_FULL_SYNC": str(settings.stock_full_sync_seconds),
        "CONNECTOR_STOCK_LEASE": str(settings.stock_lease_seconds),
        "CONNECTOR_MIRROR_CHECK_INTERVAL": str(settings.mirror_check_interval_seconds),
    })
    return env


def _seller(ctx: AppContext, plan: ChaosPlan, index: int, boxes: list) -> SellerWorld:
    """A sandbox of the seller's own (Alegra user, three stores) and an account connected to it."""
    seed = plan.seed + 100 * index
    box = sandbox_server.Sandbox(order_count=plan.orders, seed=seed, **erp_knobs(
        plan.erp, rate_limit_per_minute=plan.limit, rate_window_seconds=plan.window_seconds,
        commit_stall_seconds=plan.commit_stall_seconds, stamp_answer_delay=plan.stamp_answer_delay),
        ml_user_id=sandbox_server.ML_USER_ID + index).start()  # each seller's own stores: a store is connected once
    box.shopify_state.shop_id += index
    boxes.append(box)
    erp = box.erp(plan.erp)
    for offset, knobs in enumerate((erp.knobs, box.ml_knobs, box.shopify_knobs, box.woo_knobs)):
        knobs.update({"seed": seed + offset})  # the same faults, run after run
    credentials = erp.use_user(f"chaos{index}@tienda{index}.co", f"chaostoken{index}x{seed}")
    account = services.create_account(ctx, f"Chaos {index}")
    services.connect_erp(ctx, account.id, plan.erp, credentials, base_url=erp.url)
    connections = {"mercadolibre": services.connect_channel(ctx, account.id, "mercadolibre", {
        "client_id": sandbox_server.ML_CLIENT_ID, "client_secret": sandbox_server.ML_CLIENT_SECRET,
        "refresh_token": sandbox_server.ML_REFRESH_TOKEN}, base_url=box.ml_url).id}
    connections["shopify"] = services.connect_channel(ctx, account.id, "shopify", {
        "shop": sandbox_server.SHOPIFY_SHOP, "access_token": sandbox_server.SHOPIFY_ACCESS_TOKEN,
        "webhook_secret": sandbox_server.SHOPIFY_WEBHOOK_SECRET}, base_url=box.shopify_url).id
    connections["woocommerce"] = services.connect_channel(ctx, account.id, "woocommerce", {
        "store_url": box.woo_url, "consumer_key": sandbox_server.WOO_CONSUMER_KEY,
        "consumer_secret": sandbox_server.WOO_CONSUMER_SECRET}, base_url=box.woo_url).id
    shipping = next(i for i in services.search_catalog(ctx, account.id, "ENVIO") if i.reference == "ENVIO")
    bank = next(b for b in services.erp_choices(ctx, account.id)["bank_accounts"] if b["name"] == "Mercado Pago")
    # Every write after the invoice is on: stamps (DEMO_RULES), deliveries and payments, under the same faults.
    services.update_settings(ctx, account.id, DEMO_RULES + [
        f"shipping_item_id={shipping.erp_id}", "deliver_invoice=true", "record_payment=true",
        f"payment_account_id={bank['id']}", "credit_notes=automatic"])
    for connection_id in connections.values():  # the ERP's stock published on every store
        update_stock_settings(ctx, account.id, connection_id, ["enabled=true"])
    world = SellerWorld(account.id, connections, box, erp=plan.erp)
    world.sales = {kind: channel_sales(kind, seed, plan.orders + plan.trickle) for kind in CHANNELS}
    return world


def _faults_on(plan: ChaosPlan, box) -> None:
    box.erp(plan.erp).knobs.update({
        "error_rate": plan.error_rate, "burst_429_rate": plan.burst_429_rate,
        "timeout_after_commit_rate": plan.timeout_after_commit_rate,
        "reset_after_commit_rate": plan.reset_after_commit_rate,
        "reset_before_commit_rate": plan.reset_before_commit_rate})
    for knobs in (box.ml_knobs, box.shopify_knobs, box.woo_knobs):
        knobs.update({"error_rate": plan.channel_error_rate})
    # The marketplace's one write (the invoice attached to the order) loses answers too; more often than
    # the ERP's, since there are few of them and each must be settled by reading the order's documents.
    box.ml_knobs.update({"timeout_after_commit_rate": plan.upload_lost_answer_rate,
                         "reset_after_commit_rate": plan.upload_lost_answer_rate})
    # Stock writes (every store) and the ERP's subscription creates and deletes lose answers more often
    # than the rest: there are few of them, and each lost one must be settled by reading.
    for knobs in (box.ml_knobs, box.shopify_knobs, box.woo_knobs):
        knobs.update({"lost_answer_rates": {"stock": plan.stock_lost_answer_rate}})
    box.erp(plan.erp).knobs.update({"lost_answer_rates": {"subscription": plan.subscription_lost_answer_rate}})


def _faults_off(box, erp: str) -> None:
    box.erp(erp).knobs.update({"error_rate": 0.0, "burst_429_rate": 0.0, "timeout_after_commit_rate": 0.0,
                             "reset_after_commit_rate": 0.0, "reset_before_commit_rate": 0.0,
                             "maintenance_until": 0.0, "lost_answer_rates": {}})
    for knobs in (box.ml_knobs, box.shopify_knobs, box.woo_knobs):
        knobs.update({"error_rate": 0.0, "timeout_after_commit_rate": 0.0, "reset_after_commit_rate": 0.0,
                      "lost_answer_rates": {}})


def _chaos_loop(ctx, plan, rng, report, sellers, redis_server, beat, workers, started) -> None:
    """Kill, restart, add sales and open maintenance windows until the backlog settles (or time is up)."""
    next_kill = started + rng.expovariate(1 / plan.kill_every)
    maintenance = sorted(plan.maintenance)
    redis_due, beat_due = plan.redis_restart_at, plan.beat_kill_at
    eligible = sum(1 for seller in sellers for kind, sales in seller.sales.items() for spec in sales
                   if EXPECTED[kind][spec.scenario] == OrderState.INVOICED)
    trickled = 0
    restart_at: dict[str, float] = {}
    next_note = started
    refunds_due = sorted(plan.refunds_at)
    edits_due, drops_due = sorted(plan.stock_edits_at), sorted(plan.subscription_drops_at)
    mirror_due = list(plan.mirror_off_on)  # off, then on
    while True:
        now = time.monotonic()
        done = sum(len(seller.box.erp(plan.erp).invoices()) for seller in sellers) / eligible
        if now >= next_note:
            counts = state_counts(ctx)
            log.info("%5.0f s: %3.0f %% invoiced; orders %s", now - started, done * 100, dict(counts))
            next_note = now + 10
            if done > 0.97 and sum(counts.get(s.value, 0) for s in ACTIVE_STATES) <= 5:
                log.info("what the last orders are waiting for:\n%s", trails(ctx, _active_order_ids(ctx)))
                log.info("stock and subscriptions: %s", writes_left(ctx, sellers) or "settled")
        trickled = _add_trickle(plan, sellers, trickled, now - started)
        if now >= next_kill:
            _kill_someone(rng, report, workers, restart_at, now)
            next_kill = now + rng.expovariate(1 / plan.kill_every)
        for process in workers + [beat]:
            if not process.alive() and now >= restart_at.get(process.name, 0):
                process.start()
        if redis_due is not None and done >= redis_due:
            log.info("restarting Redis at %.0f %% of the work", done * 100)
            redis_server.restart()
            redis_due = None
        if beat_due is not None and done >= beat_due:
            beat.kill()
            report.kills["beat"] += 1
            restart_at[beat.name] = now + 2.0
            beat_due = None
        if maintenance and done >= maintenance[0][0]:
            _, seconds = maintenance.pop(0)
            box = rng.choice(sellers).box
            box.erp(plan.erp).knobs.update({"maintenance_until": time.time() + seconds})
            report.maintenance_windows += 1
        if refunds_due and done >= refunds_due[0]:
            refunds_due.pop(0)
            report.refunds_given += _refund_invoiced(ctx, rng, sellers, plan.refunds_per_round)
        if edits_due and done >= edits_due[0]:
            edits_due.pop(0)
            report.stock_edits += edit_stock(rng, sellers, plan.erp, plan.stock_edits_per_round)
        if drops_due and done >= drops_due[0]:
            drops_due.pop(0)
            report.subscriptions_dropped += drop_subscriptions(rng, sellers, plan.subscription_drops_per_round)
        if mirror_due and done >= mirror_due[0]:
            mirror_due.pop(0)
            toggle_mirror(ctx, sellers, on=not mirror_due)
            report.mirror_toggles += not mirror_due
        events_done = (not maintenance and redis_due is None and beat_due is None and trickled >= plan.trickle
                       and not refunds_due and not edits_due and not drops_due and not mirror_due)
        # The orders settled under fire; the stock and the subscriptions settle with the rest once the
        # faults stop (their writes were under the same fire all along).
        if events_done and _settled(ctx, plan, sellers, writes=False):
            return
        if now - started > plan.chaos_timeout:
            log.warning("chaos timeout: stopping the faults with work left")
            return
        time.sleep(0.25)


def _refund_invoiced(ctx, rng, sellers: list[SellerWorld], count: int) -> int:
    """Refund ``count`` invoiced orders of each seller through their stores, as buyers would while the
    workers are killed and the ERP fails: a unit back, everything back, the shipping back, or a unit
    and then the rest (two refunds of one order)."""
    from sqlalchemy import select

    from connector.models import Order

    given = 0
    for seller in sellers:
        with ctx.db.session() as session:
            orders = list(session.execute(select(Order.external_id, Order.channel_connection_id).where(
                Order.account_id == seller.account_id, Order.state == OrderState.INVOICED.value)))
        kinds = {connection_id: kind for kind, connection_id in seller.connections.items()}
        for external_id, connection_id in rng.sample(orders, min(count, len(orders))):
            store = {"mercadolibre": seller.box.ml_state, "shopify": seller.box.shopify_state,
                     "woocommerce": seller.box.woo_state}[kinds[connection_id]]
            how = rng.choice(("unit", "full", "shipping", "twice"))
            if how == "twice":
                given += store.refund(int(external_id), lines={0: 1}, reason="chaos: una unidad") is not None
                how = "full"
            options = {"unit": {"lines": {0: 1}}, "full": {"full": True}, "shipping": {"shipping": True}}[how]
            given += store.refund(int(external_id), reason=f"chaos: {how}", **options) is not None
    return given


def _kill_someone(rng, report, workers, restart_at, now) -> None:
    target = rng.choice(workers)
    children = target.children()
    if children and rng.random() < 0.5:  # a crashed task: the pool replaces the child
        try:
            os.kill(rng.choice(children), 9)
            report.kills["pool_child"] += 1
        except ProcessLookupError:
            pass
        return
    if target.alive():  # a lost machine: the worker and its children, gone at once
        target.kill()
        report.kills["worker"] += 1
        restart_at[target.name] = now + rng.uniform(0.5, 2.0)


def _add_trickle(plan: ChaosPlan, sellers: list[SellerWorld], trickled: int, elapsed: float) -> int:
    """New sales keep arriving in every store while the workers run."""
    if trickled >= plan.trickle:
        return trickled
    due = plan.trickle if elapsed >= plan.trickle_seconds else int(plan.trickle * elapsed / plan.trickle_seconds)
    for n in range(trickled, due):
        for seller in sellers:
            box = seller.box
            for kind in CHANNELS:
                seller.sales[kind][plan.orders + n] = spec = arriving_now(seller.sales[kind][plan.orders + n])
                if kind == "mercadolibre":
                    box.ml_state.add_sale(spec)
                else:
                    getattr(box, f"{'woo' if kind == 'woocommerce' else kind}_state").add_sale(spec, notify=False)
    return max(trickled, due)


def arriving_now(spec: SaleSpec) -> SaleSpec:
    """The sale as a store shows it the moment it arrives: created a moment ago and not shipped yet,
    so its last update is now (the seeded stream's dates lie weeks back, behind any cursor)."""
    settled = timedelta(minutes=46 if spec.status == "cancelled" else 4)  # the sandbox's update delays
    return replace(spec, created_at=datetime.now(BOGOTA) - settled, shipped=False)


def _active_order_ids(ctx) -> list[int]:
    from sqlalchemy import select

    from connector.models import Order

    with ctx.db.session() as session:
        return list(session.scalars(select(Order.id).where(Order.state.in_([s.value for s in ACTIVE_STATES]))))


def _settled(ctx, plan: ChaosPlan, sellers: list[SellerWorld], *, writes: bool = True) -> bool:
    counts = state_counts(ctx)
    expected = sum(len(sales) for s in sellers for sales in s.sales.values())
    return (sum(counts.values()) >= expected and not any(counts.get(s.value, 0) for s in ACTIVE_STATES)
            and not followups_left(ctx) and _refunds_noted(ctx, sellers)
            and (not writes or writes_settled(ctx, sellers)))


def _refunds_noted(ctx, sellers: list[SellerWorld]) -> bool:
    """Every refund a store gave is known here (pulls and webhooks bring them in their own time)."""
    from sqlalchemy import select

    from connector.models import Order, Refund

    given = {(str(row["order_id"]), str(row["refund_id"])) for seller in sellers
             for rows in seller.box.refund_records().values() for row in rows}
    with ctx.db.session() as session:
        noted = {(external_id, refund_id.split("+", 1)[0]) for external_id, refund_id in session.execute(
            select(Order.external_id, Refund.external_id).join(Order, Order.id == Refund.order_id))}
    return given <= noted


def _wait_settled(ctx, plan: ChaosPlan, sellers: list[SellerWorld], *, deadline: float) -> None:
    while time.monotonic() < deadline:
        if _settled(ctx, plan, sellers):
            return
        time.sleep(0.5)


def _orders_that_waited_for_the_erp(ctx) -> int:
    from sqlalchemy import distinct, func, select

    from connector.models import ActivityEvent
    from connector.states import OrderState

    with ctx.db.session() as session:
        return session.scalar(select(func.count(distinct(ActivityEvent.order_id)))
                              .where(ActivityEvent.to_state == OrderState.WAITING_ERP.value)) or 0


def _attempt_outcomes(ctx) -> Counter:
    from sqlalchemy import func, select

    with ctx.db.session() as session:
        return Counter({str(k): n for k, n in session.execute(
            select(InvoiceAttempt.outcome, func.count()).group_by(InvoiceAttempt.outcome)).all()})
