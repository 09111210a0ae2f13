"""SLM pre-processing: intent, slots and safety tags for each user message."""

from somaagent.application.slm.artefacts import CODE_VERSION, SlmModel, artefact_root, load, save
from somaagent.application.slm.embedding_cache import CachedEmbedder
from somaagent.application.slm.nlu_data import NluData, load_nlu, parse_nlu
from somaagent.application.slm.pipeline import SlmPipeline
from somaagent.application.slm.training import train_persona

__all__ = [
    "CODE_VERSION",
    "CachedEmbedder",
    "NluData",
    "SlmModel",
    "SlmPipeline",
    "artefact_root",
    "load",
    "load_nlu",
    "parse_nlu",
    "save",
    "train_persona",
]
