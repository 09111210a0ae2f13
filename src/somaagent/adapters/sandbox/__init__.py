"""adapters/sandbox"""
