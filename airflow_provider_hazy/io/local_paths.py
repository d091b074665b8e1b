"""Model files, generation states and fail-safe files live on a local (or mounted) file system.

Table locations read and write S3 through their data source; these three do not: an `s3://` path here would
silently become a local folder named `s3:` (`./s3:/bucket/m.hmf`). It is refused before any work starts,
naming the field, with what to do instead (exit code 2).
"""

from __future__ import annotations

import re
from typing import Any, Optional

from ..outcome import ConfigError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def require_local_path(path: Optional[Any], field: str) -> Optional[Any]:
    """`path` when it is a local path (or None); a `ConfigError` naming `field` for a URL such as `s3://`."""
    if path is not None and _URL.match(str(path)) and not str(path).lower().startswith("file://"):
        scheme = str(path).split("://", 1)[0]
        raise ConfigError(
            f"{field}: '{path}' is a {scheme}:// URL, but model files, generation states and fail-safe files are "
            "read and written on a local or mounted file system (a shared volume such as HAZY_WORK_DIR): give a "
            f"local path, and copy the file to {scheme}:// afterwards if you need it there"
        )
    return path
