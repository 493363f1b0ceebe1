"""Atelier's benchmarks: they print figures and never assert timings (GUIDE.md §1).

Run from the repository root, e.g. ``python -m bench.import_bench --quick``; see bench/README.md.
"""
