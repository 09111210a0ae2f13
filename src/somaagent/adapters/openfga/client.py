"""OpenFGA over its HTTP API: relationship checks and tuple writes in one store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from somaagent.closing import AsyncClosing
from somaagent.domain.errors import BackendError, NotFoundError, ValidationError
from somaagent.json_http import JsonHttp
from somaagent.settings import OpenFgaSettings

Tuple = tuple[str, str, str]  # (user, relation, object)


def _key(user: str, relation: str, object_: str) -> dict[str, str]:
    return {"user": user, "relation": relation, "object": object_}


class OpenFgaClient(AsyncClosing):
    """Async client for the store named `settings.store_name`; ask with `check`."""

    def __init__(
        self,
        settings: OpenFgaSettings,
        *,
        store_id: str | None = None,
        on_change: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`on_change` runs after each acknowledged write or delete (e.g. PolicyEpoch.bump)."""
        self._settings = settings
        self._on_change = on_change
        self._base = settings.url.rstrip("/")
        self._store_id = store_id
        self._lock = asyncio.Lock()
        self._http = JsonHttp(
            "openfga", timeout_s=settings.timeout_s, max_connections=32, keepalive_s=5.0
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = await self._http.request(method, self._base + path, json=body)
        if resp.status == 400:
            raise ValidationError("openfga", resp.text[:300])
        if resp.status >= 400:
            raise BackendError(f"openfga: {method} {path} -> {resp.status} {resp.text[:200]}")
        return resp.json()

    async def store_id(self) -> str:
        """The id of the configured store, looked up by name once."""
        if self._store_id is not None:
            return self._store_id
        async with self._lock:
            if self._store_id is None:
                self._store_id = await self._find_store()
        return self._store_id

    async def _find_store(self) -> str:
        token = ""
        while True:
            page = await self._call("GET", f"/stores?page_size=100&continuation_token={token}")
            for store in page.get("stores", []):
                if store["name"] == self._settings.store_name:
                    return str(store["id"])
            token = page.get("continuation_token") or ""
            if not token:
                raise NotFoundError(f"openfga: no store named {self._settings.store_name!r}")

    async def check(self, user: str, relation: str, object_: str) -> bool:
        """Is `user` related to `object_` by `relation` (directly or through the model)?"""
        store = await self.store_id()
        body = {"tuple_key": _key(user, relation, object_)}
        answer = await self._call("POST", f"/stores/{store}/check", body)
        return bool(answer.get("allowed", False))

    async def check_all(self, checks: Iterable[Tuple]) -> list[bool]:
        """Answer several checks concurrently, in order."""
        return list(await asyncio.gather(*(self.check(*c) for c in checks)))

    async def is_admin(self, tenant_id: str, subject: str) -> bool:
        """Is user `subject` an admin of `tenant_id`?"""
        return await self.check(user_ref(subject), "admin", tenant_ref(tenant_id))

    async def users_with(self, relation: str, object_: str) -> list[str]:
        """The users directly related to `object_` by `relation` (stored tuples, all pages)."""
        store, users, token = await self.store_id(), [], ""
        while True:
            body: dict[str, Any] = {
                "tuple_key": {"relation": relation, "object": object_},
                "page_size": 100,
            }
            if token:
                body["continuation_token"] = token
            page = await self._call("POST", f"/stores/{store}/read", body)
            users += [t["key"]["user"] for t in page.get("tuples", [])]
            token = page.get("continuation_token") or ""
            if not token:
                return users

    async def admins_of(self, tenant_id: str) -> list[str]:
        """The subjects that are admins of `tenant_id`, sorted."""
        users = await self.users_with("admin", tenant_ref(tenant_id))
        return sorted(subject_of(u) for u in users if u.startswith("user:"))

    async def grant_admin(self, tenant_id: str, subject: str) -> None:
        await self.write([(user_ref(subject), "admin", tenant_ref(tenant_id))])

    async def revoke_admin(self, tenant_id: str, subject: str) -> None:
        await self.delete([(user_ref(subject), "admin", tenant_ref(tenant_id))])

    async def write(self, tuples: Iterable[Tuple]) -> None:
        """Add relationships (already present ones are ignored)."""
        keys = [_key(*t) for t in tuples]
        if keys:
            store = await self.store_id()
            body = {"writes": {"tuple_keys": keys, "on_duplicate": "ignore"}}
            await self._call("POST", f"/stores/{store}/write", body)
            await self._changed()

    async def delete(self, tuples: Iterable[Tuple]) -> None:
        """Remove relationships (missing ones are ignored)."""
        keys = [_key(*t) for t in tuples]
        if keys:
            store = await self.store_id()
            body = {"deletes": {"tuple_keys": keys, "on_missing": "ignore"}}
            await self._call("POST", f"/stores/{store}/write", body)
            await self._changed()

    async def _changed(self) -> None:
        if self._on_change is not None:
            await self._on_change()


def fga_id(value: str) -> str:
    """An id as OpenFGA accepts it: ':' becomes %3A (ids never hold '%').

    policies/opa/soma/ids.rego writes the same ids on the Rego side."""
    return value.replace(":", "%3A")


def persona_ref(tenant: str, persona: str) -> str:
    return f"persona:{fga_id(tenant)}/{fga_id(persona)}"


def tool_ref(tenant: str, tool: str) -> str:
    return f"tool:{fga_id(tenant)}/{fga_id(tool)}"


def tenant_ref(tenant: str) -> str:
    return f"tenant:{fga_id(tenant)}"


def user_ref(subject: str) -> str:
    return f"user:{fga_id(subject)}"


def subject_of(user: str) -> str:
    """The subject of a `user:` reference (the inverse of user_ref)."""
    return user.removeprefix("user:").replace("%3A", ":")


def memory_ref(tenant: str, namespace: str) -> str:
    return f"memory_namespace:{fga_id(tenant)}/{fga_id(namespace)}"
