"""How SKUs, barcodes and references are compared: trimmed, upper-case, no inner spaces or dashes
lost — only whitespace is removed, because "CAM-PIM" and "CAMPIM" are different references."""

from __future__ import annotations

import unicodedata


def normalise_code(code: str | None) -> str:
    if code is None:
        return ""
    return "".join(str(code).split()).upper()


def normalise_label(text: str | None) -> str:
    """Variant option names/values compared without case or accents ("Talla"=="talla", "Día"=="dia")."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip().casefold()
