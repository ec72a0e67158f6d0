"""A connector's own rate limit: the webhooks per second the relay takes from it, and the burst above that.

```json
"limits": {"rate": 20, "burst": 40}
```

Beyond it the receiver answers 429 with Retry-After. Without `limits`, the deployment's default applies
(the template's ConnectorRateLimit and ConnectorBurstLimit).
"""

from typing import Annotated

from pydantic import Field, StrictInt

from iotbridge.wire import CamelModel

MAX_RATE = 10_000
MAX_BURST = 100_000


class ConnectorLimits(CamelModel):
    # Webhooks per second, refilled continuously (0.5: one every two seconds).
    rate: Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False)]
    # Webhooks taken at once after a quiet spell: the bucket's size.
    burst: Annotated[StrictInt, Field(ge=1, le=MAX_BURST)]
