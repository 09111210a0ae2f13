"""SLM pre-processing: intent, slots and safety tags for each user message."""

from somaagent.application.slm.artefacts import CODE_VERSION, SlmModel, artefact_root, load, save
from somaagent.application.slm.embedding_cache import CachedEmbedder
from somaagent.application.slm.nlu_data import NluData, load_nlu, parse_nlu
from somaagent.application.slm.pipeline import SlmPipeline
from somaagent.application.slm.routing_set import (
    RoutingItem,
    RoutingSet,
    default_routing_path,
    load_routing,
    parse_routing,
)
from somaagent.application.slm.training import TrainingData, load_training_data, train_persona

__all__ = [
    "CODE_VERSION",
    "CachedEmbedder",
    "NluData",
    "RoutingItem",
    "RoutingSet",
    "SlmModel",
    "SlmPipeline",
    "TrainingData",
    "artefact_root",
    "default_routing_path",
    "load",
    "load_nlu",
    "load_routing",
    "load_training_data",
    "parse_nlu",
    "parse_routing",
    "save",
    "train_persona",
]
