"""adapters/llm"""
