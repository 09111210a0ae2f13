"""Tenant admins have one source of truth (OpenFGA): an admin key makes its subject an admin;
/v1/admins grants, lists and revokes; the last admin stays; a key's role alone grants nothing."""

from __future__ import annotations

import httpx

from services.gateway.conftest import Tenant
from services.gateway.test_api import error_code
from somaagent.adapters.openfga import OpenFgaClient
from somaagent.adapters.postgres.api_keys import ApiKeyStore


async def test_an_admin_key_created_by_an_admin_makes_its_subject_an_admin(
    http: httpx.AsyncClient, tenant: Tenant, fga: OpenFgaClient
) -> None:
    admin = tenant.headers(admin=True)
    made = await http.post("/v1/keys", json={"role": "admin", "subject": "dave"}, headers=admin)
    assert made.status_code == 201, made.text
    assert await fga.is_admin(tenant.tenant_id, "dave")
    listed = await http.get("/v1/admins", headers={"X-API-Key": made.json()["key"]})
    assert listed.json() == {"tenant_id": tenant.tenant_id, "admins": ["dave", "root"]}


async def test_grant_list_revoke_and_the_last_admin_is_refused(
    http: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    admin = tenant.headers(admin=True)
    granted = await http.post("/v1/admins", json={"subject": "alice"}, headers=admin)
    assert granted.status_code == 201 and granted.json()["admins"] == ["alice", "root"]
    # alice's plain user key now reaches admin routes: the relation decides, not the role
    assert (await http.get("/v1/admins", headers=tenant.headers())).status_code == 200
    revoked = await http.delete("/v1/admins/root", headers=tenant.headers())
    assert revoked.json()["admins"] == ["alice"]
    last = await http.delete("/v1/admins/alice", headers=tenant.headers())
    assert (last.status_code, error_code(last)) == (409, "last_admin"), last.text
    assert "alice is the last admin of tenant" in last.json()["error"]["message"]
    gone = await http.get("/v1/admins", headers=admin)  # root's admin-role key no longer admin
    assert (gone.status_code, error_code(gone)) == (403, "forbidden")
    foreign = await http.get("/v1/admins", headers=other_tenant.headers())
    assert foreign.status_code == 403
    unknown = await http.delete("/v1/admins/nobody", headers=tenant.headers())
    assert unknown.status_code == 404


async def test_a_key_stored_with_role_admin_but_no_relation_is_not_an_admin(
    http: httpx.AsyncClient, keys: ApiKeyStore, tenant: Tenant
) -> None:
    key, _ = await keys.create(tenant.tenant_id, "admin", "mallory")  # bypasses TenantAdmins
    refused = await http.get("/v1/admins", headers={"X-API-Key": key})
    assert (refused.status_code, error_code(refused)) == (403, "forbidden")
    assert "user mallory is not an admin" in refused.json()["error"]["message"]
