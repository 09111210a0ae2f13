"""Trained SLM models on disk: one folder per persona and version, a CURRENT pointer.

    <root>/<persona>/<version>/model.pkl      the classifiers
    <root>/<persona>/<version>/manifest.json  what it was trained on, when, with which code
    <root>/<persona>/CURRENT                  the version the pipeline loads

The version is a hash of the training data and CODE_VERSION, so the same inputs give the
same version and a changed NLU file, routing set, dataset or classifier code gives a new
one. The manifest also records the thresholds chosen on validation data. The root is under
the cache directory (never committed); only the artefacts the project trains itself are
loaded from it.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from somaagent.application.slm.classifiers import IntentClassifier, SafetyClassifier
from somaagent.application.slm.slots import SlotTagger
from somaagent.domain.errors import NotFoundError, ValidationError

#: Bump when the features or classifiers change, so old artefacts are not reused.
CODE_VERSION = "slm-5"


@dataclass
class SlmModel:
    persona: str
    version: str
    intent: IntentClassifier
    slots: SlotTagger
    safety: SafetyClassifier | None
    manifest: dict[str, Any] = field(default_factory=dict)
    #: The `jailbreak` category's classifier (None in models trained without it).
    jailbreak: SafetyClassifier | None = None

    def safety_classifiers(self) -> list[SafetyClassifier]:
        return [c for c in (self.safety, self.jailbreak) if c is not None]


def model_version(*digests: str) -> str:
    joined = "|".join([CODE_VERSION, *digests])
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def artefact_root(cache: Path) -> Path:
    return cache / "slm"


def save(model: SlmModel, root: Path) -> Path:
    folder = root / model.persona / model.version
    folder.mkdir(parents=True, exist_ok=True)
    model.manifest["code_version"] = CODE_VERSION
    tmp = folder / "model.pkl.tmp"
    tmp.write_bytes(pickle.dumps(model))
    tmp.replace(folder / "model.pkl")
    manifest = {**model.manifest, "version": model.version, "code_version": CODE_VERSION}
    manifest.setdefault("trained_at", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (root / model.persona / "CURRENT").write_text(model.version + "\n")
    return folder


def load(root: Path, persona: str, version: str | None = None) -> SlmModel:
    """The persona's CURRENT model (or the named version)."""
    if not persona.replace("-", "").replace("_", "").isalnum():
        raise ValidationError("persona", "letters, digits, '-' and '_' only")
    base = root / persona
    if version is None:
        try:
            version = (base / "CURRENT").read_text().strip()
        except OSError as exc:
            raise NotFoundError(
                f"no trained SLM model for persona {persona!r} under {root}; run `soma slm train`"
            ) from exc
    path = base / version / "model.pkl"
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NotFoundError(f"SLM model {persona}/{version} not found at {path}") from exc
    try:
        model = pickle.loads(data)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise NotFoundError(f"{path} was written by other code; run `soma slm train`") from exc
    if not isinstance(model, SlmModel):
        raise NotFoundError(f"{path} does not hold an SLM model")
    if model.manifest.get("code_version") != CODE_VERSION:
        raise NotFoundError(f"{path} was trained by older code; run `soma slm train`")
    return model
