"""The web UI of `crmpipe serve`: server-rendered pages (Jinja2 templates, a small CSS and JS,
no build step) over the same store and the same answers as the API.

`crmpipe.api.app` mounts the pages (`mount_pages`) and hands them its own endpoint functions
(`Endpoints`), so a page shows exactly what the API answers, masked for a masked key; access
(keys, the login cookie, the rate limit) is the API's middleware, which asks this package for
the 401 and 429 pages (`access`).
"""

from __future__ import annotations

from crmpipe.web.access import KEY_COOKIE, is_open, needs_key, refusal_page
from crmpipe.web.endpoints import Endpoints
from crmpipe.web.pages import mount_pages

__all__ = [
    "KEY_COOKIE",
    "Endpoints",
    "is_open",
    "mount_pages",
    "needs_key",
    "refusal_page",
]
