"""Invariant 1 at real volume: an ambiguous invoice of a busy contact (the final consumer, with many
invoices that day) is settled from the ERP's newest invoices in at most two reads — found when Alegra
committed it, proved absent (and then sent once) when it did not — never by scanning three days."""

import pytest

from benchmarks.scenarios import run_ambiguity

pytestmark = pytest.mark.e2e


def test_ambiguous_outcomes_of_a_busy_contact_take_at_most_two_reads_and_no_duplicate():
    figures = run_ambiguity(others=75, warmup=2, committed=3, not_committed=3)
    assert figures["ambiguous"] == 6
    assert figures["settled"] == {"invoiced": 3, "ready": 3}  # found / provably not created
    assert figures["marker_reads"] <= 2 * figures["ambiguous"]
    assert figures["full_scans"] == 0
    assert figures["end_states"] == {"invoiced": 8}
    assert figures["max_invoices_per_marker"] == 1
