"""Benchmarks of the bridge's functions: every figure is a ratio against a baseline measured in the same run.

`python -m bench` runs them all and writes docs/benchmarks.md; `python -m bench --smoke` is a quick run
that checks the benchmark code works (it writes nothing unless --output is given).
"""
