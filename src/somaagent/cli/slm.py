"""`soma slm train | analyse`: train a persona's SLM classifiers, try them on a message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from somaagent.adapters.embeddings import EmbeddingClient
from somaagent.adapters.personas import FilePersonaCatalog
from somaagent.application.slm import (
    CODE_VERSION,
    CachedEmbedder,
    SlmPipeline,
    TrainingData,
    artefact_root,
    default_routing_path,
    load,
    load_nlu,
    load_routing,
    load_training_data,
    save,
    train_persona,
)
from somaagent.application.slm.datasets import default_datasets_dir, file_digest
from somaagent.application.slm.safety_data import data_files
from somaagent.cli.common import console, load_settings, reports_errors
from somaagent.domain.errors import SomaError
from somaagent.settings import CommonSettings, repo_root

slm_app = typer.Typer(
    help="Small-model pre-processing (intent, slots, safety).", no_args_is_help=True
)

PersonaOpt = Annotated[str, typer.Option(help="Persona whose NLU file to use.")]


def embedding_cache_path(settings: CommonSettings) -> Path:
    return settings.cache_dir / "embeddings" / "all-minilm-l6-v2.sqlite"


def tool_intents(persona: str) -> dict[str, str]:
    """The persona's intent -> tool map (personas/<persona>/persona.yml)."""
    return dict(FilePersonaCatalog(repo_root() / "personas").get(persona).tool_intents)


def training_data(persona: str, nlu: Path, routing: Path, datasets: Path) -> TrainingData:
    intents = tool_intents(persona)
    return load_training_data(load_nlu(nlu), load_routing(routing, intents), intents, datasets)


async def _train(data: TrainingData) -> str:
    settings = load_settings()
    async with EmbeddingClient(settings.embedding.url(), timeout_s=60.0) as client:
        embedder = CachedEmbedder(client, embedding_cache_path(settings))
        model = await train_persona(data, embedder)
    folder = save(model, artefact_root(settings.cache_dir))
    summary = {k: model.manifest[k] for k in ("intent", "safety", "train_seconds")}
    return f"persona {data.nlu.persona}: model {model.version} in {folder}\n{json.dumps(summary)}"


def current_model_matches(persona: str, nlu: Path, routing: Path, datasets: Path) -> bool:
    """True when the persona's CURRENT model loads with this code and was trained on the
    NLU file, routing set and datasets as they are now."""
    settings = load_settings()
    try:
        model = load(artefact_root(settings.cache_dir), persona)
        wanted = {
            "code_version": CODE_VERSION,
            "nlu_sha256": load_nlu(nlu).digest,
            "routing_sha256": load_routing(routing, tool_intents(persona)).digest,
            "safety_data_sha256": file_digest(*data_files(datasets)),
        }
    except SomaError:
        return False
    return all(model.manifest.get(key) == value for key, value in wanted.items())


@slm_app.command()
@reports_errors
def train(
    persona: PersonaOpt = "default",
    nlu: Annotated[
        Path | None, typer.Option(help="NLU file (default personas/<persona>/nlu.yml).")
    ] = None,
    routing: Annotated[
        Path | None, typer.Option(help="Routing set (default evals/routing/routing.yaml).")
    ] = None,
    datasets: Annotated[Path | None, typer.Option(help="The shared datasets folder.")] = None,
    if_stale: Annotated[
        bool, typer.Option("--if-stale", help="Skip when the current model matches the data.")
    ] = False,
) -> None:
    """Train intent, slot and safety classifiers, choose their thresholds on validation
    data and save them as the persona's CURRENT model."""
    nlu_path = nlu or repo_root() / "personas" / persona / "nlu.yml"
    routing_path = routing or default_routing_path()
    data = datasets or default_datasets_dir()
    if if_stale and current_model_matches(persona, nlu_path, routing_path, data):
        console.print(f"persona {persona}: the current model was trained on these files")
        return
    training = training_data(persona, nlu_path, routing_path, data)
    console.print(asyncio.run(_train(training)), soft_wrap=True)


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
