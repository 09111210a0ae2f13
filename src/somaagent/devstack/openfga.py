"""OpenFGA on the project's PostgreSQL, with the authorization model loaded into a store."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx

from somaagent.devstack.gobinary import go_binary, go_binary_path
from somaagent.devstack.process import run_step, say
from somaagent.devstack.service import Service
from somaagent.domain.errors import InfraError

OPENFGA_MODULE = "github.com/openfga/openfga/cmd/openfga"
OPENFGA_VERSION = "v1.22.1"


class OpenFgaService(Service):
    name = "openfga"
    ready_timeout_s = 60.0

    @property
    def port(self) -> int:
        return urlparse(self.ctx.settings.openfga.url).port or 8080

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _datastore_env(self) -> dict[str, str]:
        pg = self.ctx.settings.postgres
        uri = (
            f"postgres://{pg.user}:{pg.password.get_secret_value()}@{pg.host}:{pg.port}"
            "/openfga?sslmode=disable"
        )
        return {"OPENFGA_DATASTORE_ENGINE": "postgres", "OPENFGA_DATASTORE_URI": uri}

    def install(self) -> None:
        go_binary(self.ctx, OPENFGA_MODULE, OPENFGA_VERSION, "openfga")

    @property
    def binary(self) -> str:
        return str(go_binary_path(self.ctx, OPENFGA_VERSION, "openfga"))

    def prepare(self) -> None:
        run_step(
            "openfga migrate",
            [self.binary, "migrate"],
            env=self._datastore_env(),
            logfile=self.logfile,
            timeout_s=120,
        )

    def launch(self) -> None:
        grpc = self.ctx.settings.openfga.grpc_port
        self.spawn(
            [
                self.binary,
                "run",
                "--http-addr",
                f"127.0.0.1:{self.port}",
                "--grpc-addr",
                f"127.0.0.1:{grpc}",
                "--playground-enabled=false",
                "--metrics-enabled=false",
                "--log-format",
                "json",
            ],
            env=self._datastore_env(),
        )

    def ready(self) -> bool:
        try:
            resp = httpx.get(f"{self.base_url}/healthz", timeout=1.0)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200 and "SERVING" in resp.text

    def version(self) -> str:
        path = go_binary_path(self.ctx, OPENFGA_VERSION, "openfga")
        if not path.exists():
            return "not installed"
        out = subprocess.run([str(path), "version"], capture_output=True, text=True, check=False)
        text = (out.stdout + out.stderr).strip()
        for word in text.replace(",", " ").split():
            if word.startswith("v") and word[1:2].isdigit():
                return word
        return OPENFGA_VERSION

    # -- provisioning -----------------------------------------------------
    @property
    def store_file(self) -> Path:
        return self.ctx.data("openfga") / "store.json"

    def after_start(self) -> None:
        model_text = (self.ctx.repo / "policies" / "openfga" / "model.json").read_text()
        model_hash = hashlib.sha256(model_text.encode()).hexdigest()
        store_id = self._ensure_store()
        try:
            known = json.loads(self.store_file.read_text())
        except (OSError, ValueError):
            known = {}
        if known.get("store_id") == store_id and known.get("model_sha256") == model_hash:
            return
        say("openfga: writing the authorization model")
        model_id = str(
            self._call("POST", f"/stores/{store_id}/authorization-models", json.loads(model_text))[
                "authorization_model_id"
            ]
        )
        self.store_file.write_text(
            json.dumps({"store_id": store_id, "model_id": model_id, "model_sha256": model_hash})
            + "\n"
        )

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            resp = httpx.request(method, self.base_url + path, json=body, timeout=10.0)
        except httpx.HTTPError as exc:
            raise InfraError(f"openfga: {method} {path} failed: {exc}") from exc
        if resp.status_code >= 400:
            raise InfraError(f"openfga: {method} {path} -> {resp.status_code}: {resp.text}")
        return resp.json()

    def _ensure_store(self) -> str:
        name = self.ctx.settings.openfga.store_name
        for store in self._call("GET", "/stores?page_size=100").get("stores", []):
            if store["name"] == name:
                return str(store["id"])
        say(f"openfga: creating store {name}")
        return str(self._call("POST", "/stores", {"name": name})["id"])
