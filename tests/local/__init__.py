"""The local runtime, started in-process on free ports."""
