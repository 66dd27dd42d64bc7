"""Benchmark scripts behind docs/benchmarks.md.

Each runs against one sandbox and reports ratios measured in the same run.
"""
