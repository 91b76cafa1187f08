"""The web stage's error family: a folder that cannot be published (PublishError, publish.py) or
a target that cannot be served (ServeError, server.py)."""

from nonesuch.errors import NonesuchError


class WebError(NonesuchError):
    """Something the web stage cannot publish or serve; the message names it and the problem."""
