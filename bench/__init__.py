"""Reproducible benchmarks: ``.venv/bin/python -m bench --help`` (see docs/performance.md)."""
