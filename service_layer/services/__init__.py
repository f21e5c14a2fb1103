"""Use cases: plain async functions that take a unit of work and return read models."""
