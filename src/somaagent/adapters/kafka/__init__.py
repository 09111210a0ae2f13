"""adapters/kafka"""
