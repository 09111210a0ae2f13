"""OpenAI-compatible chat models (llama.cpp locally, vLLM in production)."""

from somaagent.adapters.llm.fallback import FallbackChatModel, chain_model
from somaagent.adapters.llm.openai_chat import RETRIABLE_BEFORE_FIRST_TOKEN, OpenAIChatModel
from somaagent.adapters.llm.payload import TOOL_CALL_PREFILL, build_payload

__all__ = [
    "RETRIABLE_BEFORE_FIRST_TOKEN",
    "TOOL_CALL_PREFILL",
    "FallbackChatModel",
    "OpenAIChatModel",
    "build_payload",
    "chain_model",
]
