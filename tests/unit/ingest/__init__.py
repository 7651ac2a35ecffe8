"""Ingest with fakes: outcomes, idempotency, rejections, batches, faults."""
