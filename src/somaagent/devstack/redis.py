"""Redis from Debian's package, with the project's own config and data directory."""

from __future__ import annotations

import shutil
import subprocess

import redis

from somaagent.devstack.service import Service, apt_install


class RedisService(Service):
    name = "redis"
    ready_timeout_s = 30.0

    @property
    def port(self) -> int:
        return self.ctx.settings.redis.port

    def install(self) -> None:
        if shutil.which("redis-server") is None:
            apt_install(["redis-server"], self.ctx)

    def prepare(self) -> None:
        data = self.ctx.data("redis")
        conf = data / "redis.conf"
        conf.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {self.port}",
                    "protected-mode yes",
                    "daemonize no",
                    f"dir {data}",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1000",
                    "maxmemory 512mb",
                    "maxmemory-policy noeviction",
                    "loglevel notice",
                    "",
                ]
            )
        )

    def launch(self) -> None:
        self.spawn(["redis-server", str(self.ctx.state / "redis" / "redis.conf")])

    def ready(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def version(self) -> str:
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, check=False
        ).stdout
        for part in out.split():
            if part.startswith("v="):
                return part[2:]
        return "?"
