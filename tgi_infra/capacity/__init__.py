"""Capacity planning: model facts, the hardware catalog, TGI's memory model (pure)."""
