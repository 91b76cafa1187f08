"""The generate stage's error family: settings it cannot honour (an unknown class, format or
precision, a size too small to watermark) and output folders it cannot resume into."""

from nonesuch.errors import NonesuchError


class GenerateError(NonesuchError):
    """What cannot be generated as asked, and why; the message names the setting or folder."""
