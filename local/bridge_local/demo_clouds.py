"""Two fictional device clouds that send their own JSON, signed their own way, to profiled connectors.

Their profiles and native payloads are files under events/profiles/ (what a connector team would write);
their secrets are published here on purpose, for the local stack only. The local stack stores each profile
in SSM and each secret in Secrets Manager, as a deployment would; the demo and the sample events sign each
payload the way its cloud does.
"""

from __future__ import annotations

# The clouds live in the repository's `samples` package, shared with the tests; named here as before.
from samples.device_clouds import AERIE, DEMO_CLOUDS, LUMEN, PROFILES_DIR, DemoCloud

__all__ = ["AERIE", "DEMO_CLOUDS", "LUMEN", "PROFILES_DIR", "DemoCloud"]
