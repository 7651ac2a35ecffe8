"""Contracts of the synthesised stack."""
