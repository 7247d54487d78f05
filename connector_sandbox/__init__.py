"""Local emulators of the remote ledgers, serving real HTTP on 127.0.0.1 to the real SDKs.

`server` is the vendor-neutral scaffolding (threaded server, Decimal JSON, fault injection,
per-tenant rate limits); `quickbooks` is QuickBooks Online. Nothing here is used by a sync in
production: the sandboxes exist so adapters are tested through real SDKs without the internet.
"""

from connector_sandbox.server import (
    Clock,
    FaultInjector,
    RateLimiter,
    Request,
    Response,
    SandboxServer,
    Window,
    dumps,
    loads,
)

__all__ = [
    "Clock",
    "FaultInjector",
    "RateLimiter",
    "Request",
    "Response",
    "SandboxServer",
    "Window",
    "dumps",
    "loads",
]
