"""The ingest Lambda: S3 events (through SQS) in, renditions, records and events out."""
