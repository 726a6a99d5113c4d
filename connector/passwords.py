"""Password hashing: argon2id at OWASP's parameters; older hashes still verify and are replaced.

Why argon2-cffi: it binds the reference C implementation of Argon2 (the Password Hashing Competition
winner, RFC 9106), is the library OWASP's cheat sheet and passlib point Python users to, releases the
GIL while hashing (so a web thread hashing does not stall the others), and reads the parameters back
from a stored hash (``check_needs_rehash``), which is what lets us raise them later without a reset.

Hashes written before argon2id (``scrypt:...`` and ``pbkdf2:...`` from ``werkzeug.security``) keep
verifying; :meth:`PasswordHashing.needs_rehash` says so and the next successful sign-in rewrites them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type
from werkzeug.security import check_password_hash

# OWASP Password Storage Cheat Sheet: argon2id with 19 MiB of memory, 2 iterations, 1 degree of parallelism.
OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1

ARGON2_PREFIX = "$argon2"


@dataclass(frozen=True)
class PasswordHashing:
    """Hash and verify passwords; the parameters are the work factor (tests use a cheaper one)."""

    memory_kib: int = OWASP_MEMORY_KIB
    time_cost: int = OWASP_TIME_COST
    parallelism: int = OWASP_PARALLELISM
    _hasher: PasswordHasher = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hasher", PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism, type=Type.ID))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash`` (argon2, or a legacy werkzeug hash)."""
        if stored_hash.startswith(ARGON2_PREFIX):
            try:
                return self._hasher.verify(stored_hash, password)
            except (VerificationError, InvalidHashError):
                return False
        try:
            return check_password_hash(stored_hash, password)
        except ValueError:  # an unknown or damaged legacy format never matches
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """A legacy hash, or argon2 with other parameters than ours: rewrite it at the next sign-in."""
        if not stored_hash.startswith(ARGON2_PREFIX):
            return True
        try:
            return self._hasher.check_needs_rehash(stored_hash)
        except InvalidHashError:
            return True
