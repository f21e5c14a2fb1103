"""Comparators served exactly like Stockroom (uvicorn, same workers, same tables and rows)."""
