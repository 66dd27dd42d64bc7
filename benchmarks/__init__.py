"""Benchmark scripts behind docs/benchmarks.md: each runs against one sandbox and reports ratios measured in the same run."""
