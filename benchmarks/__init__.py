"""Benchmarks that drive the connector against the loopback sandbox (see benchmarks/README.md)."""
