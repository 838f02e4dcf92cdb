"""`SKIP_AUTH`: the context flag that sends a request past auth untouched."""

from __future__ import annotations

from typing import Final

from ..http import HttpContext, HttpContextToken

__all__ = ["SKIPPING_AUTH", "SKIP_AUTH"]

SKIP_AUTH: Final = HttpContextToken(False, name="SKIP_AUTH")
"""Set it to `True` and `AuthInterceptor` neither adds a token to the
request nor handles its 401:

```python
client.get(url, context=HttpContext().set(SKIP_AUTH, True))
```

Refresh calls carry it, so a 401 from the token endpoint cannot start
another refresh.
"""

SKIPPING_AUTH: Final = HttpContext().set(SKIP_AUTH, True)
