"""API keys at the gateway: their format, their hash, bearer parsing, the cache, and tenant ids."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest

from services.common.errors import InvalidArgument, Unauthenticated
from services.gateway.core.keys import ALL_KEYS, ApiKeys, check_tenant_id, key_hash, new_key


class CountingLookup:
    """A key table in memory that counts how often it was asked."""

    def __init__(self, tenants_by_hash: dict[str, str]):
        self.tenants_by_hash = tenants_by_hash
        self.lookups = 0

    async def tenant_for_hash(self, key_hash: str) -> str | None:
        self.lookups += 1
        return self.tenants_by_hash.get(key_hash)


def test_new_key_is_prefixed_and_carries_256_random_bits():
    key = new_key()

    assert re.fullmatch(r"ags_[A-Za-z0-9_-]{43}", key)
    assert new_key() != key


def test_key_hash_is_the_sha256_hex_of_the_whole_key():
    key = "ags_example"

    assert key_hash(key) == hashlib.sha256(b"ags_example").hexdigest()
    assert key_hash(key) != key_hash(key + "x")


async def test_valid_bearer_key_resolves_to_its_tenant():
    key = new_key()
    keys = ApiKeys(CountingLookup({key_hash(key): "acme"}))

    assert await keys.tenant_for(f"Bearer {key}") == "acme"
    assert await keys.tenant_for(f"bearer   {key}  ") == "acme"


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "MISSING_API_KEY"),
        ("", "MISSING_API_KEY"),
        ("ags_abc", "MALFORMED_API_KEY"),
        ("Basic ags_abc", "MALFORMED_API_KEY"),
        ("Bearer sk-not-ours", "MALFORMED_API_KEY"),
        ("Bearer ", "MALFORMED_API_KEY"),
    ],
)
async def test_missing_or_malformed_authorization_is_unauthenticated_without_a_lookup(authorization, reason):
    lookup = CountingLookup({})
    keys = ApiKeys(lookup)

    with pytest.raises(Unauthenticated) as caught:
        await keys.tenant_for(authorization)

    assert caught.value.reason == reason
    assert lookup.lookups == 0


async def test_unknown_or_revoked_key_is_unauthenticated():
    keys = ApiKeys(CountingLookup({}))

    with pytest.raises(Unauthenticated) as caught:
        await keys.tenant_for(f"Bearer {new_key()}")

    assert caught.value.reason == "INVALID_API_KEY"


async def test_error_message_never_echoes_the_key():
    key = new_key()

    with pytest.raises(Unauthenticated) as caught:
        await ApiKeys(CountingLookup({})).tenant_for(f"Bearer {key}")

    assert key not in str(caught.value)


async def test_cached_answer_avoids_a_second_lookup():
    key = new_key()
    lookup = CountingLookup({key_hash(key): "acme"})
    keys = ApiKeys(lookup, ttl=60)

    await keys.tenant_for(f"Bearer {key}")
    await keys.tenant_for(f"Bearer {key}")

    assert lookup.lookups == 1


async def test_unknown_key_is_cached_too_so_guessing_does_not_hammer_the_database():
    key = new_key()
    lookup = CountingLookup({})
    keys = ApiKeys(lookup, ttl=60)

    for _ in range(3):
        with pytest.raises(Unauthenticated):
            await keys.tenant_for(f"Bearer {key}")

    assert lookup.lookups == 1


async def test_expired_cache_entry_is_looked_up_again_so_revocation_takes_effect():
    key = new_key()
    lookup = CountingLookup({key_hash(key): "acme"})
    keys = ApiKeys(lookup, ttl=0)

    assert await keys.tenant_for(f"Bearer {key}") == "acme"
    del lookup.tenants_by_hash[key_hash(key)]

    with pytest.raises(Unauthenticated):
        await keys.tenant_for(f"Bearer {key}")
    assert lookup.lookups == 2


async def test_full_cache_is_emptied_rather_than_growing_without_bound():
    first, second = new_key(), new_key()
    lookup = CountingLookup({key_hash(first): "a", key_hash(second): "b"})
    keys = ApiKeys(lookup, ttl=60, max_entries=1)

    await keys.tenant_for(f"Bearer {first}")
    await keys.tenant_for(f"Bearer {second}")
    await keys.tenant_for(f"Bearer {first}")

    assert lookup.lookups == 3


@pytest.mark.parametrize("tenant", ["acme", "a", "0day", "team_a-1", "x" * 63])
def test_valid_tenant_ids_are_accepted(tenant):
    assert check_tenant_id(tenant) == tenant


@pytest.mark.parametrize("tenant", ["", "Acme", "-acme", "_acme", "ac me", "acme!", "é", "x" * 64, "acme\n"])
def test_invalid_tenant_ids_are_refused_naming_the_tenant_field(tenant):
    with pytest.raises(InvalidArgument) as caught:
        check_tenant_id(tenant)

    assert [v.field for v in caught.value.violations] == ["tenant"]


async def test_a_flood_of_made_up_keys_never_pushes_a_valid_key_out_of_the_cache():
    valid = new_key()
    lookup = CountingLookup({key_hash(valid): "acme"})
    keys = ApiKeys(lookup, ttl=60, max_entries=4)
    await keys.tenant_for(f"Bearer {valid}")

    for _ in range(20):
        with pytest.raises(Unauthenticated):
            await keys.tenant_for(f"Bearer {new_key()}")
    lookups_before = lookup.lookups
    assert await keys.tenant_for(f"Bearer {valid}") == "acme"

    assert lookup.lookups == lookups_before


async def test_revocation_notification_evicts_the_cached_key_at_once():
    revoked, kept = new_key(), new_key()
    lookup = CountingLookup({key_hash(revoked): "acme", key_hash(kept): "acme"})
    keys = ApiKeys(lookup, ttl=60)
    await keys.tenant_for(f"Bearer {revoked}")
    await keys.tenant_for(f"Bearer {kept}")
    del lookup.tenants_by_hash[key_hash(revoked)]

    keys.on_revoked(key_hash(revoked))

    with pytest.raises(Unauthenticated):
        await keys.tenant_for(f"Bearer {revoked}")
    lookups_before = lookup.lookups
    assert await keys.tenant_for(f"Bearer {kept}") == "acme"
    assert lookup.lookups == lookups_before  # the other key stays cached


async def test_a_notification_for_every_key_empties_the_cache():
    key = new_key()
    lookup = CountingLookup({key_hash(key): "acme"})
    keys = ApiKeys(lookup, ttl=60)
    await keys.tenant_for(f"Bearer {key}")

    keys.on_revoked(ALL_KEYS)

    await keys.tenant_for(f"Bearer {key}")
    assert lookup.lookups == 2


class PausedLookup(CountingLookup):
    """A lookup that answers only when the test lets it, to interleave a revocation with it."""

    def __init__(self, tenants_by_hash: dict[str, str]):
        super().__init__(tenants_by_hash)
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()

    async def tenant_for_hash(self, key_hash: str) -> str | None:
        tenant = await super().tenant_for_hash(key_hash)
        self.asked.set()
        await self.answer.wait()
        return tenant


async def test_an_answer_read_before_a_revocation_is_not_cached_after_it():
    key = new_key()
    lookup = PausedLookup({key_hash(key): "acme"})
    keys = ApiKeys(lookup, ttl=60)
    call = asyncio.create_task(keys.tenant_for(f"Bearer {key}"))
    await lookup.asked.wait()

    # The database said "valid", then the revocation committed and its notification arrived,
    # then the answer reached us: this call may pass (it raced the revocation), the next may not.
    del lookup.tenants_by_hash[key_hash(key)]
    keys.on_revoked(key_hash(key))
    lookup.answer.set()
    assert await call == "acme"

    with pytest.raises(Unauthenticated):
        await keys.tenant_for(f"Bearer {key}")


async def test_while_notifications_are_down_every_call_asks_the_database():
    key = new_key()
    lookup = CountingLookup({key_hash(key): "acme"})
    keys = ApiKeys(lookup, ttl=60)
    await keys.tenant_for(f"Bearer {key}")

    keys.notifications_lost()
    await keys.tenant_for(f"Bearer {key}")
    await keys.tenant_for(f"Bearer {key}")
    assert lookup.lookups == 3

    keys.notifications_restored()
    await keys.tenant_for(f"Bearer {key}")
    await keys.tenant_for(f"Bearer {key}")
    assert lookup.lookups == 4


async def test_a_revocation_missed_while_notifications_were_down_takes_effect():
    key = new_key()
    lookup = CountingLookup({key_hash(key): "acme"})
    keys = ApiKeys(lookup, ttl=60)
    await keys.tenant_for(f"Bearer {key}")

    keys.notifications_lost()
    del lookup.tenants_by_hash[key_hash(key)]  # revoked; its notification went nowhere
    keys.notifications_restored()

    with pytest.raises(Unauthenticated):
        await keys.tenant_for(f"Bearer {key}")
