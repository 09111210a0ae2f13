"""Per-session workspaces: a directory per tenant+session under the state dir.

The directory is bind-mounted read-write as the sandbox's /work, so files persist between
the calls of one session and are invisible to every other session. Names are hashes of the
ids, so no id can walk out of the workspace root.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from somaagent.domain.tools import SANDBOX_UID

FileStamp = tuple[int, int]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Workspaces:
    root: Path

    def path(self, tenant_id: str, session_id: str) -> Path:
        return self.root / _digest(tenant_id) / _digest(f"{tenant_id}\0{session_id}")

    def ensure(self, tenant_id: str, session_id: str) -> Path:
        """Create the workspace: parents traversable only (0711), the leaf owned by nobody."""
        path = self.path(tenant_id, session_id)
        for parent in (self.root, path.parent):
            parent.mkdir(parents=True, exist_ok=True)
            os.chmod(parent, 0o711)
        path.mkdir(exist_ok=True, mode=0o700)
        if os.geteuid() == 0:
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
        return path


def snapshot(directory: Path) -> dict[Path, FileStamp]:
    """Regular files under `directory` with (mtime_ns, size)."""
    found: dict[Path, FileStamp] = {}
    for path in directory.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        st = path.stat()
        found[path] = (st.st_mtime_ns, st.st_size)
    return found


def changed_files(before: dict[Path, FileStamp], after: dict[Path, FileStamp]) -> list[Path]:
    """Files created or modified between two snapshots, in a stable order."""
    return sorted(p for p, stamp in after.items() if before.get(p) != stamp)
