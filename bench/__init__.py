"""Benchmarks: speed and memory targets are measured here, never asserted in tests.

`python -m bench.sql_checks` times the billing SQL checks against the naive
reference (ids loaded into Python, as the source article's Rails code did).
"""
