"""The management API with fakes."""
