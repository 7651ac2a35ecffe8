"""The resize Lambda: renders a delivery URL's rendition on a cache miss (see handler.py)."""
