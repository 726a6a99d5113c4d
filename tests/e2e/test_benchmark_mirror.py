"""The benchmark measures a seller with the ERP mirror, as in production: its webhooks subscribed to the
served endpoint, the contacts imported before the clock starts, every notice the run causes received and
paid for. With that, a known buyer's invoice costs one request, a new buyer's two (the contact's echo
costs nothing), and a catalog older than its max age is not re-read."""

import pytest

from benchmarks.scenarios import run_catalog
from benchmarks.throughput import parse_args, run_throughput

pytestmark = pytest.mark.e2e


def _run(buyers: str, *mirror: str) -> dict:
    return run_throughput(parse_args(["--orders", "6", "--mix", "invoiceable", "--buyers", buyers,
                                      "--limit", "1000", "--window-seconds", "6", *mirror]))


@pytest.mark.parametrize(("buyers", "per_invoice"), [("known", 1.0), ("new", 2.0)])
def test_with_the_mirror_a_known_buyer_costs_one_request_and_a_new_one_two(buyers, per_invoice):
    run = _run(buyers)
    assert run["mirror"][0]["webhooks_healthy"] and run["webhooks_settled"]
    assert run["invoice_phase"]["invoiced"] == 6
    assert run["calls_per_invoiced_order"]["total"] == per_invoice
    assert run["exactly_once"]["max_invoices_per_marker"] == 1


def test_without_the_mirror_a_known_buyer_is_searched_in_the_erp():
    run = _run("known", "--no-mirror")
    assert "mirror" not in run
    assert run["calls_per_invoiced_order"]["total"] == 2.0  # a contact search, then the invoice


def test_with_healthy_webhooks_a_stale_catalog_is_not_re_read():
    assert run_catalog(items=120)["item_reads_after_max_age"] == 0
    assert run_catalog(items=120, mirror=False)["item_reads_after_max_age"] > 0


def test_the_goals_cpu_figure_is_the_median_of_its_runs_and_every_run_counts_for_exactly_once(monkeypatch):
    """One run's CPU figure moves a lot on a shared machine: the goal is checked on the median of
    ``--cpu-runs`` known-buyer runs, and every run's 429s and invoices per marker still count."""
    from benchmarks import goals

    cpu = iter([30.0, 10.0, 20.0, 9.0, 7.0, 8.0])

    def fake_run(args, buyers, database_url):
        return {"calls_per_invoiced_order": {"total": 1.0, "contacts": 0.0},
                "invoice_phase": {"invoices_per_minute": 150.0, "steady_request_ratio_of_limit": 1.0,
                                  "invoiced": 60},
                "http_429": 1, "cpu": {"ms_per_invoiced_order": next(cpu)},
                "exactly_once": {"max_invoices_per_marker": 1}}

    monkeypatch.setattr(goals, "_throughput", fake_run)
    result = goals.run_goals(goals.parse_args(["--only", "known,postgresql", "--cpu-runs", "3"]))
    assert result["cpu_ms"] == {"sqlite": 20.0, "postgresql": 8.0}
    assert result["cpu_ms_runs"] == {"sqlite": [30.0, 10.0, 20.0], "postgresql": [9.0, 7.0, 8.0]}
    assert result["known"]["cpu_ms"] == 30.0  # the other figures: the first run's
    assert result["http_429"] == 6 and result["max_invoices_per_marker"] == 1
