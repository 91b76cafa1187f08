"""Where nonesuch keeps per-user state: signing keys and the registry of generated images.

`$NONESUCH_HOME` if set (tests point it at a temporary folder), else `$XDG_CONFIG_HOME/nonesuch`,
else `~/.config/nonesuch`. Never inside the repository: private keys must not be committed.
"""

from __future__ import annotations

import os
from pathlib import Path


def nonesuch_home() -> Path:
    if os.environ.get("NONESUCH_HOME"):
        return Path(os.environ["NONESUCH_HOME"]).expanduser()
    config_root = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config_root).expanduser() / "nonesuch"
