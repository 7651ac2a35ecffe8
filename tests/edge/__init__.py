"""The CloudFront Functions' harnesses: Node (harness.mjs), njs (njs.py), the acorn allow-list check."""
