"""Credentials at rest: JSON encrypted with MultiFernet (first key encrypts, every key decrypts)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.errors import ConfigurationError
from connector.log_masking import remember_secret, remember_secrets_of
from connector.settings import Settings


def _load_or_create_key_file(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key


class CredentialVault:
    """Encrypts and decrypts credential dictionaries. Never logs them."""

    def __init__(self, keys: list[str]):
        if not keys:
            raise ConfigurationError("No hay llave de cifrado configurada (CONNECTOR_SECRET_KEYS).")
        try:
            self._keys = [Fernet(k.encode()) for k in keys]
        except (ValueError, TypeError) as exc:
            raise ConfigurationError("CONNECTOR_SECRET_KEYS no contiene llaves Fernet válidas.") from exc
        for key in keys:
            remember_secret(key)
        self._fernet = MultiFernet(self._keys)
        # Names a person can match against their key list without the key being shown.
        self.fingerprints = [hashlib.sha256(k.strip().encode()).hexdigest()[:12] for k in keys]

    @classmethod
    def from_settings(cls, settings: Settings) -> CredentialVault:
        if settings.secret_keys is not None:
            keys = [k.strip() for k in settings.secret_keys.get_secret_value().split(",") if k.strip()]
        elif settings.generates_missing_keys:
            keys = [_load_or_create_key_file(settings.data_dir / "secret.key")]
        else:
            key_file = settings.data_dir / "secret.key"
            found = f" (¿la de {key_file}?)" if key_file.exists() else ""
            raise ConfigurationError(
                f"En producción CONNECTOR_SECRET_KEYS debe venir del entorno{found}: crea una llave con "
                "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' "
                "(o usa CONNECTOR_MODE=dev para probar).")
        return cls(keys)

    def encrypt(self, credentials: dict[str, Any]) -> str:
        remember_secrets_of(credentials)  # hidden from every log line from now on
        return self._fernet.encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()

    def decrypt(self, token: str) -> dict[str, Any]:
        try:
            credentials = json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ConfigurationError(
                "No se pudieron descifrar las credenciales guardadas: la llave de cifrado cambió."
            ) from exc
        if isinstance(credentials, dict):
            remember_secrets_of(credentials)
        return credentials

    def rotate(self, token: str) -> str:
        """Re-encrypt with the current first key (after adding a new key in front)."""
        return self._fernet.rotate(token.encode()).decode()

    def key_position(self, token: str) -> int | None:
        """Which key (0 = the first, the one that encrypts) opens ``token``; ``None`` when none does."""
        for position, key in enumerate(self._keys):
            try:
                key.decrypt(token.encode())
            except (InvalidToken, TypeError, ValueError):
                continue
            return position
        return None


def mask(secret: str | None) -> str:
    """A hint a person can recognise without revealing the secret: '••••3f9c'."""
    if not secret:
        return ""
    return "••••" + secret[-4:] if len(secret) > 8 else "••••"
