"""PostgreSQL 15 from Debian's package, as a cluster of the project's own."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from somaagent.devstack.process import run_step, say
from somaagent.devstack.service import Service, apt_install, user_exists
from somaagent.domain.errors import InfraError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: Databases the stack provisions: the product's own and OpenFGA's datastore.
DATABASES = ("soma", "openfga")


class PostgresService(Service):
    name = "postgres"
    ready_timeout_s = 60.0

    @property
    def port(self) -> int:
        return self.ctx.settings.postgres.port

    @property
    def datadir(self) -> Path:
        return self.ctx.state / "postgres" / "data"

    @property
    def sockdir(self) -> Path:
        return self.ctx.state / "postgres" / "run"

    @property
    def run_as(self) -> str | None:
        """initdb refuses root; as root the cluster runs as the `postgres` user."""
        return "postgres" if os.geteuid() == 0 else None

    def install(self) -> None:
        if not (PG_BIN / "postgres").exists():
            apt_install(["postgresql-15"], self.ctx)
        if self.run_as and not user_exists(self.run_as):
            raise InfraError("postgres: the system user 'postgres' is missing")

    def _own(self, path: Path) -> None:
        if self.run_as:
            run_step("chown", ["chown", "-R", f"{self.run_as}:", str(path)])

    def _can_traverse(self, path: Path) -> bool:
        assert self.run_as is not None
        probe = subprocess.run(
            ["runuser", "-u", self.run_as, "--", "test", "-x", str(path)], check=False
        )
        return probe.returncode == 0

    def _check_reachable(self) -> None:
        """As root the cluster runs as `postgres`, which must be able to reach the state dir.

        A directory on the way that it cannot traverse (a checkout under /root, say) gets an
        ACL entry for that one user, traverse only (`setfacl -m u:postgres:x`), and we say so.
        """
        if not self.run_as:
            return
        for path in [*reversed(self.ctx.state.parents), self.ctx.state]:
            if self._can_traverse(path):
                continue
            if shutil.which("setfacl") is None:
                apt_install(["acl"], self.ctx)
            say(f"postgres: letting user {self.run_as} traverse {path} (ACL, traverse only)")
            run_step("setfacl", ["setfacl", "-m", f"u:{self.run_as}:x", str(path)])
            if not self._can_traverse(path):
                raise InfraError(
                    f"postgres: the user {self.run_as} cannot reach {self.ctx.state}; "
                    "set SOMA_STATE_DIR to a directory every user can traverse"
                )

    def prepare(self) -> None:
        self._check_reachable()
        self.sockdir.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.logfile.touch()
        self._own(self.sockdir)
        self._own(self.logfile)
        if (self.datadir / "PG_VERSION").exists():
            return
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._own(self.datadir)
        pwfile = self.ctx.state / "postgres" / "pwfile"
        pwfile.write_text(self.ctx.settings.postgres.password.get_secret_value() + "\n")
        self._own(pwfile)
        say("postgres: initdb (first start)")
        try:
            run_step(
                "initdb",
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.ctx.settings.postgres.user,
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ],
                user=self.run_as,
                logfile=self.logfile,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def launch(self) -> None:
        opts = (
            f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c shared_buffers=128MB -c fsync=on"
        )
        run_step(
            "pg_ctl start",
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ],
            user=self.run_as,
        )
        postmaster = (self.datadir / "postmaster.pid").read_text().splitlines()[0]
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.write_text(postmaster + "\n")

    def ready(self) -> bool:
        proc = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
            check=False,
            capture_output=True,
        )
        return proc.returncode == 0

    def psql(self, sql: str, database: str = "postgres") -> str:
        proc = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-h",
                str(self.sockdir),
                "-p",
                str(self.port),
                "-U",
                self.ctx.settings.postgres.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ],
            check=False,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise InfraError(f"postgres: psql failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def after_start(self) -> None:
        existing = set(self.psql("SELECT datname FROM pg_database").splitlines())
        for db in DATABASES:
            if db not in existing:
                self.psql(f'CREATE DATABASE "{db}"')
                say(f"postgres: created database {db}")
        self.psql("CREATE EXTENSION IF NOT EXISTS pg_trgm", database="soma")

    def down(self) -> str:
        if self.shared:
            return super().down()
        if not self.running():
            self.pidfile.unlink(missing_ok=True)
            return "not started by this launcher" if self.pid() is None else "stopped"
        run_step(
            "pg_ctl stop",
            [str(PG_BIN / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"],
            user=self.run_as,
        )
        self.pidfile.unlink(missing_ok=True)
        return "stopped"

    def version(self) -> str:
        out = subprocess.run(
            [str(PG_BIN / "postgres"), "--version"], capture_output=True, text=True, check=False
        ).stdout
        found = re.search(r"\) (\d+\.\d+)", out)
        return found.group(1) if found else "?"
