"""The web console: a page served by the daemon at `/ui/` on the control API's listener.

Its files are plain HTML, CSS and JavaScript modules in `static/`, shipped as package data:
nothing to build, no CDN, so it works offline. The page reads and acts through the control
API's own `/v1` routes, with the bearer token kept in the tab's session storage.
"""

from service.ui.console import Console

__all__ = ["Console"]
