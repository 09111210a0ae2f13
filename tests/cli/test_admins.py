"""`soma admins grant|revoke|list` and `soma keys create --role admin` on the real OpenFGA:
the relation they write is the one every admin check reads; the last admin stays."""

from __future__ import annotations

import uuid

from cli.test_replay import soma
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.settings import CommonSettings


async def test_grant_list_revoke_and_the_last_admin_is_refused(settings: CommonSettings) -> None:
    tenant = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, err = await soma(settings, "keys", "create", "--tenant", tenant, "--role",
                                "admin", "--subject", "sso:ops")  # fmt: skip
    assert code == 0 and out.strip().startswith("soma_"), err
    assert (await soma(settings, "admins", "grant", "--tenant", tenant, "--subject", "bo"))[0] == 0
    code, out, _ = await soma(settings, "admins", "list", "--tenant", tenant)
    assert (code, out.split()) == (0, ["bo", "sso:ops"])
    async with OpenFgaClient(settings.openfga) as fga:
        assert await fga.is_admin(tenant, "sso:ops") and await fga.is_admin(tenant, "bo")
    assert (await soma(settings, "admins", "revoke", "--tenant", tenant, "--subject", "bo"))[0] == 0
    code, _, err = await soma(settings, "admins", "revoke", "--tenant", tenant, "--subject",
                              "sso:ops")  # fmt: skip
    assert code == 1
    assert "sso:ops is the last admin of tenant" in " ".join(err.split())
    code, out, _ = await soma(settings, "admins", "list", "--tenant", tenant)
    assert out.split() == ["sso:ops"]
