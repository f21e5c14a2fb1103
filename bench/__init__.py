"""Stockroom's benchmarks: `make bench` (full), `make bench-quick`, `make bench-smoke`."""
