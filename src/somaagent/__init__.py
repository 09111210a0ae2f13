"""SomaAgent: LLM agent conversations as a distributed system."""
