"""The benchmark harness behind `bench/run.py`: operations, tool adapters, thumbor peer, quality, report."""
