"""Benchmarks of deltahook beside their baselines: ``python -m bench`` (see README.md)."""
