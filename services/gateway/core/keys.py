"""API keys: how they look, how they are hashed, and how a key resolves to its tenant."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Protocol

from services.common.errors import InvalidArgument, Unauthenticated

KEY_PREFIX = "ags_"
TENANT_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")


def new_key() -> str:
    """A fresh key: ``ags_`` and 43 URL-safe characters (256 bits of randomness)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hash(key: str) -> str:
    """SHA-256 of the key. Keys carry 256 random bits, so a slow password hash would add nothing."""
    return hashlib.sha256(key.encode()).hexdigest()


def check_tenant_id(tenant: str) -> str:
    # fullmatch, not match with "$": "$" also matches before a trailing newline.
    if not TENANT_PATTERN.fullmatch(tenant):
        raise InvalidArgument.field(
            "tenant", "1-63 characters of a-z, 0-9, '_' and '-', starting with a letter or digit"
        )
    return tenant


@dataclass(frozen=True)
class IssuedKey:
    id: str
    tenant: str
    key: str
    """The plain key; shown once at creation and never stored."""


class KeyLookup(Protocol):
    async def tenant_for_hash(self, key_hash: str) -> str | None: ...


ALL_KEYS = "*"
"""The payload of a revocation notification that concerns every key (the table was truncated)."""


class ApiKeys:
    """Resolves bearer keys to tenants, remembering answers for ``ttl`` seconds.

    The cache keeps the database off the hot path (a hit is one dict lookup). Revocation takes
    effect at once anyway: every change to a key row notifies every gateway replica (a trigger of
    the ``gateway`` schema), and ``on_revoked`` evicts the key. The cache is trusted only while those
    notifications can arrive: between ``notifications_lost`` and ``notifications_restored`` nothing
    is cached and every call asks the database. ``ttl`` is only a backstop.
    """

    def __init__(self, lookup: KeyLookup, *, ttl: float = 10.0, max_entries: int = 10_000):
        self._lookup = lookup
        self._ttl = ttl
        self._max_entries = max_entries
        self._valid: dict[str, _Valid] = {}
        self._invalid: dict[str, float] = {}
        self._listening = True
        self._generation = 0
        """Counts evictions, so an answer read before one is not cached after it."""

    async def tenant_for(self, authorization: str | None) -> str:
        key = _bearer(authorization)
        now = time.monotonic()
        # Keyed by the key as presented, so a hit costs no hashing (the process sees the plain key
        # on every call anyway; only hashes are ever stored). Valid and invalid keys are remembered
        # apart, so a flood of made-up keys can never push the valid ones out.
        cached = self._valid.get(key)
        if cached is not None and cached.expires > now:
            return cached.tenant
        if self._invalid.get(key, 0.0) <= now:
            generation = self._generation
            digest = key_hash(key)
            tenant = await self._lookup.tenant_for_hash(digest)
            cacheable = self._listening and generation == self._generation
            if tenant is not None:
                if cacheable:
                    _remember(self._valid, key, _Valid(tenant, now + self._ttl, digest), self._max_entries)
                return tenant
            if cacheable:
                _remember(self._invalid, key, now + self._ttl, self._max_entries)
        raise Unauthenticated("the API key is not valid (unknown or revoked)", reason="INVALID_API_KEY")

    @property
    def caching(self) -> bool:
        """Whether answers are remembered: not while revocations could go unheard."""
        return self._listening

    def on_revoked(self, digest: str) -> None:
        """A key row changed (revoked, deleted): forget the key with hash ``digest`` (or every key,
        for ``ALL_KEYS``). Called by the gateway's notification listener."""
        self._generation += 1
        if digest == ALL_KEYS:
            self._valid.clear()
            return
        # A scan rather than a second index by hash: revocations are rare, and one dict keeps the
        # cache's bookkeeping in one place.
        for key in [key for key, entry in self._valid.items() if entry.digest == digest]:
            del self._valid[key]

    def notifications_lost(self) -> None:
        """Revocations may go unheard from now on: forget everything and cache nothing."""
        self._listening = False
        self._forget_all()

    def notifications_restored(self) -> None:
        """Listening again; a revocation made meanwhile was not heard, so start from empty."""
        self._forget_all()
        self._listening = True

    def _forget_all(self) -> None:
        self._generation += 1
        self._valid.clear()
        self._invalid.clear()


@dataclass(frozen=True, slots=True)
class _Valid:
    tenant: str
    expires: float
    digest: str


def _remember(cache: dict, key: str, value, max_entries: int) -> None:
    if len(cache) >= max_entries:
        cache.pop(next(iter(cache)))  # the oldest entry
    cache[key] = value


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated(
            "missing API key: send the metadata 'authorization: Bearer <key>'", reason="MISSING_API_KEY"
        )
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip().startswith(KEY_PREFIX):
        raise Unauthenticated(
            "malformed authorization: expected 'Bearer ags_...'", reason="MALFORMED_API_KEY"
        )
    return key.strip()
