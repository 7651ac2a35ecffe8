"""imgpipe: a serverless image pipeline for AWS that also runs whole on one machine."""

__version__ = "0.1.0"
