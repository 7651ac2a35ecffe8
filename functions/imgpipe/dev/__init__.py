"""The local runtime behind `imgpipe dev`: the whole pipeline on one machine, no AWS account.

Not part of any Lambda asset. `DevStack(DevOptions(...)).start()` runs moto's server as the embedded AWS,
creates the stack's resources, polls both lanes with event-source-mapping semantics and serves the
gallery, the images and the API on one port. See docs/local.md.
"""

from imgpipe.dev.stack import AlreadyRunning, DevOptions, DevStack, PortInUse

__all__ = ["AlreadyRunning", "DevOptions", "DevStack", "PortInUse"]
