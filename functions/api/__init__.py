"""The management API Lambda (`api.handler.handler`)."""
