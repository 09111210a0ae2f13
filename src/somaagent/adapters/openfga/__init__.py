"""adapters/openfga"""
