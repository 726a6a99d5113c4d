"""What a plug-in (a channel or an ERP) declares about itself, for the CLI and the panel to render.

A plug-in declares its whole form once (STYLE 13, after saleor's ``CONFIG_STRUCTURE``): the
credential fields with their choices, defaults and help. The CLI turns each field into a flag
(``--<name>``, secrets also from ``<KIND>_<NAME>``), the panel into an input; neither names the
plug-in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """One value of a code list the seller picks from: the remote system's ``code`` and the ``label``
    a person reads. ``use`` tags a value with the role the core may pick it for by default (for a
    credit-note type: ``"full"``, ``"partial"``, ``"reduction"``)."""

    code: str
    label: str
    use: str | None = None

    def as_pair(self) -> tuple[str, str]:
        return (self.code, self.label)


@dataclass(frozen=True)
class CredentialField:
    """One field of a channel's or ERP's credential form.

    ``choices`` (code, label) pairs make it a select (a value outside them is refused); ``default`` is
    used when the seller gives nothing; ``secret`` fields are masked everywhere and may come from the
    environment in the CLI (``<KIND>_<NAME>``, then any of ``env_aliases``: names an earlier CLI read,
    kept working)."""

    name: str
    label: str
    secret: bool = False
    required: bool = True
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    default: str | None = None
    env_aliases: tuple[str, ...] = ()

    def choice_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.choices)


@dataclass(frozen=True)
class AccountInfo:
    """What validating credentials tells us about the remote account (shown to the seller)."""

    remote_id: str
    display_name: str
    extra: dict[str, Any] = field(default_factory=dict)


def options_as_pairs(options: tuple[Option, ...]) -> tuple[tuple[str, str], ...]:
    """``(code, label)`` pairs, as a select renders them."""
    return tuple(option.as_pair() for option in options)
