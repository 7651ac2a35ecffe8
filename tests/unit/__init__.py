"""Unit tests on generated fixtures and in-memory fakes."""
