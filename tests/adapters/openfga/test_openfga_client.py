"""The OpenFGA adapter against the stack's store "somaagent"."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from somaagent.adapters.openfga import OpenFgaClient, persona_ref, tenant_ref, tool_ref, user_ref
from somaagent.devstack import Stack
from somaagent.domain.errors import NotFoundError, ValidationError
from somaagent.settings import CommonSettings


async def test_grant_check_revoke(
    stack: Stack, settings: CommonSettings, unique: Callable[[str], str]
) -> None:
    tenant = unique("tenant")
    grant = (persona_ref(tenant, "helper"), "user", tool_ref(tenant, "http_fetch"))
    async with OpenFgaClient(settings.openfga) as fga:
        assert not await fga.check(*grant)
        await fga.write([grant])
        await fga.write([grant])  # idempotent
        assert await fga.check(*grant)
        other = (persona_ref(tenant, "other"), "user", tool_ref(tenant, "http_fetch"))
        assert await fga.check_all([grant, other]) == [True, False]
        await fga.delete([grant])
        assert not await fga.check(*grant)


async def test_admin_implies_member(
    stack: Stack, settings: CommonSettings, unique: Callable[[str], str]
) -> None:
    tenant, alice = unique("tenant"), unique("alice")
    async with OpenFgaClient(settings.openfga) as fga:
        await fga.write([(user_ref(alice), "admin", tenant_ref(tenant))])
        assert await fga.check(user_ref(alice), "member", tenant_ref(tenant))
        assert not await fga.check(user_ref(alice), "admin", tenant_ref(unique("tenant")))


async def test_unknown_relation_is_a_validation_error(
    stack: Stack, settings: CommonSettings
) -> None:
    async with OpenFgaClient(settings.openfga) as fga:
        with pytest.raises(ValidationError):
            await fga.check("user:a", "owner_of_everything", "tenant:x")


async def test_missing_store_named(stack: Stack, settings: CommonSettings) -> None:
    section = settings.openfga.model_copy(update={"store_name": "no-such-store-xyz"})
    async with OpenFgaClient(section) as fga:
        with pytest.raises(NotFoundError, match="no-such-store-xyz"):
            await fga.check("user:a", "admin", "tenant:x")
