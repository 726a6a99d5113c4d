"""How long work tells whoever watches how far it got (the CLI draws progress bars from it).

A step (``"pull"``, ``"process"``, ``"erp_invoices"``…) is started with its total — None when it is
not known in advance (pages read from an API) — and advanced one unit at a time. The default
watcher sees nothing, so services take a ``Progress`` without caring whether anyone looks.
"""

from __future__ import annotations


class Progress:
    """The no-op watcher; the CLI's subclass draws bars."""

    def start(self, step: str, total: int | None) -> None:
        """A step begins; ``total`` units, or None when unknown."""

    def advance(self, step: str, units: int = 1) -> None:
        """``units`` more of ``step`` are done."""

    def finish(self) -> None:
        """Everything is done (bars are closed)."""


NO_PROGRESS = Progress()
