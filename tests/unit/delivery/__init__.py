"""Delivery: the edge rules, the resize handler, the SDK."""
