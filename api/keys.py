"""API keys with scopes, stored hashed.

A key reads ``bw_<key_id>_<secret>``: the id finds the row, the secret is checked
against its SHA-256. The secret is 256 random bits, so a fast hash is enough (there
is nothing to brute-force, unlike a password) and keeps per-request checks cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select, update

from occupancy.storage.schema import api_keys
from occupancy.storage.store import Store, now_ms


class Scope(StrEnum):
    """What a key may do. ``admin`` implies every other scope."""

    READ = "read"  # CDS events and metrics (CDS requires authentication for those)
    INGEST = "ingest"  # edge analysers pushing events and sessions
    JOBS = "jobs"  # submit and follow batch footage and optimiser jobs
    REVIEW = "review"  # planners: accept or reject optimiser proposals
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller an API key identifies: key id, name and scopes."""

    key_id: str
    name: str
    scopes: frozenset[Scope]

    def allows(self, scope: Scope) -> bool:
        """Whether the key may use ``scope`` (``admin`` may use all)."""
        return Scope.ADMIN in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """An API key as listed (never its secret): id, name, scopes, creation and revocation times (ms)."""

    key_id: str
    name: str
    scopes: tuple[Scope, ...]
    created_ms: int
    revoked_ms: int | None


class KeyRequestError(ValueError):
    """A key operation the user asked for cannot be done; the message says why."""


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_scopes(names: list[str]) -> tuple[Scope, ...]:
    """Scope names as ``Scope``s, deduplicated; ``KeyRequestError`` for an unknown or no scope."""
    out: list[Scope] = []
    for n in names:
        try:
            out.append(Scope(n))
        except ValueError:
            allowed = ", ".join(s.value for s in Scope)
            raise KeyRequestError(f"unknown scope {n!r} (allowed: {allowed})") from None
    if not out:
        raise KeyRequestError("a key needs at least one scope")
    return tuple(dict.fromkeys(out))


def check_key_request(name: str, scopes: list[str]) -> tuple[Scope, ...]:
    """The scopes of a key request for ``name``; ``KeyRequestError`` for an empty name or a
    bad scope (checked before any database is opened: a typo leaves nothing behind)."""
    if not name.strip():
        raise KeyRequestError("a key needs a non-empty name")
    return parse_scopes(scopes)


class KeyStore:
    """Create, list, revoke and verify keys; verified keys are cached briefly."""

    # Revocation takes effect within this many seconds in a running server.
    CACHE_S = 5.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def create(self, name: str, scopes: list[str]) -> tuple[KeyInfo, str]:
        """Return the new key's info and its token; the token is shown once, never stored."""
        sc = check_key_request(name, scopes)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        created = now_ms()
        with self.store.engine.begin() as conn:
            conn.execute(
                api_keys.insert().values(
                    key_id=key_id,
                    name=name,
                    secret_sha256=_sha(secret),
                    scopes=[s.value for s in sc],
                    created_ms=created,
                    revoked_ms=None,
                )
            )
        return KeyInfo(key_id, name, sc, created, None), f"bw_{key_id}_{secret}"

    def list(self) -> list[KeyInfo]:
        """Every key, oldest first, revoked ones included."""
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(api_keys).order_by(api_keys.c.created_ms)).mappings()
            return [
                KeyInfo(
                    r["key_id"],
                    r["name"],
                    tuple(Scope(s) for s in r["scopes"]),
                    r["created_ms"],
                    r["revoked_ms"],
                )
                for r in rows
            ]

    def revoke(self, key_id: str) -> None:
        """Revoke a key at once; ``KeyRequestError`` when no active key has that id."""
        with self.store.engine.begin() as conn:
            res = conn.execute(
                update(api_keys)
                .where(api_keys.c.key_id == key_id, api_keys.c.revoked_ms.is_(None))
                .values(revoked_ms=now_ms())
            )
        if res.rowcount == 0:
            raise KeyRequestError(f"no active key with id {key_id!r}")
        with self._lock:
            self._cache.clear()

    def verify(self, token: str) -> Principal | None:
        """The principal a token stands for, or None if it is unknown or revoked."""
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(token)
        if hit is not None and now - hit[0] < self.CACHE_S:
            return hit[1]
        principal = self._lookup(token)
        with self._lock:
            if len(self._cache) > 10_000:  # bound memory against floods of bad tokens
                self._cache.clear()
            self._cache[token] = (now, principal)
        return principal

    def _lookup(self, token: str) -> Principal | None:
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "bw":
            return None
        key_id, secret = parts[1], parts[2]
        with self.store.engine.connect() as conn:
            r = conn.execute(select(api_keys).where(api_keys.c.key_id == key_id)).mappings().first()
        if r is None or r["revoked_ms"] is not None:
            return None
        if not hmac.compare_digest(r["secret_sha256"], _sha(secret)):
            return None
        return Principal(r["key_id"], r["name"], frozenset(Scope(s) for s in r["scopes"]))
