"""adapters/opa"""
