"""adapters/redis"""
