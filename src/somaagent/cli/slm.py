"""`soma slm train | analyse`: train a persona's SLM classifiers, try them on a message."""

from __future__ import annotations

import asyncio
import pickle
from pathlib import Path
from typing import Annotated

import typer

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.application.slm import (
    CachedEmbedder,
    SlmPipeline,
    artefact_root,
    load,
    load_nlu,
    save,
    train_persona,
)
from somaagent.application.slm.datasets import default_datasets_dir, file_digest, prompt_injection
from somaagent.application.slm.training import subset
from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.domain.errors import SomaError
from somaagent.settings import CommonSettings, repo_root

slm_app = typer.Typer(
    help="Small-model pre-processing (intent, slots, safety).", no_args_is_help=True
)

PersonaOpt = Annotated[str, typer.Option(help="Persona whose NLU file to use.")]


def embedding_cache_path(settings: CommonSettings) -> Path:
    return settings.cache_dir / "embeddings" / "all-minilm-l6-v2.sqlite"


async def _train(persona: str, nlu_path: Path, datasets: Path, limit: int | None) -> str:
    settings = load_settings()
    nlu = load_nlu(nlu_path)
    safety_csv = datasets / "prompt_injection" / "s-labs" / "train.csv"
    rows = subset(prompt_injection(datasets, "train"), limit)
    async with EmbeddingClient(settings.embedding.url(), timeout_s=60.0) as client:
        embedder = CachedEmbedder(client, embedding_cache_path(settings))
        model = await train_persona(nlu, rows, file_digest(safety_csv), embedder)
    folder = save(model, artefact_root(settings.cache_dir))
    return f"persona {persona}: model {model.version} in {folder} ({model.manifest})"


def current_model_matches(persona: str, nlu_path: Path, datasets: Path) -> bool:
    """True when the persona's CURRENT model loads with this code and was trained on the
    NLU file and safety data as they are now."""
    settings = load_settings()
    try:
        model = load(artefact_root(settings.cache_dir), persona)
    except (SomaError, pickle.UnpicklingError, EOFError, KeyError, AttributeError, ImportError):
        return False
    safety_csv = datasets / "prompt_injection" / "s-labs" / "train.csv"
    return bool(
        model.manifest.get("nlu_sha256") == load_nlu(nlu_path).digest
        and model.manifest.get("safety_data_sha256") == file_digest(safety_csv)
    )


@slm_app.command()
@reports_errors
def train(
    persona: PersonaOpt = "default",
    nlu: Annotated[
        Path | None, typer.Option(help="NLU file (default personas/<persona>/nlu.yml).")
    ] = None,
    datasets: Annotated[Path | None, typer.Option(help="The shared datasets folder.")] = None,
    safety_limit: Annotated[int | None, typer.Option(help="Use at most N safety examples.")] = None,
    if_stale: Annotated[
        bool, typer.Option("--if-stale", help="Skip when the current model matches the data.")
    ] = False,
) -> None:
    """Train intent, slot and safety classifiers; save them as the persona's CURRENT model."""
    nlu_path = nlu or repo_root() / "personas" / persona / "nlu.yml"
    data = datasets or default_datasets_dir()
    if if_stale and current_model_matches(persona, nlu_path, data):
        console.print(f"persona {persona}: the current model was trained on these files")
        return
    console.print(asyncio.run(_train(persona, nlu_path, data, safety_limit)))


async def _analyse(persona: str, text: str) -> str:
    settings = load_settings()
    model = load(artefact_root(settings.cache_dir), persona)
    async with EmbeddingClient(settings.embedding.url(), settings.embedding.timeout_s) as client:
        result = await SlmPipeline(model, client).analyse(text)
    return result.model_dump_json(indent=2)


@slm_app.command()
@reports_errors
def analyse(text: str, persona: PersonaOpt = "default") -> None:
    """Run the persona's current model on one message and print the result."""
    console.print_json(asyncio.run(_analyse(persona, text)))
