"""Masking secrets: a URL's password and secret-looking query parameters replaced by `***` (`mask_url`),
the secret strings of a URL (`url_secrets`) and any text scrubbed of them (`scrub`).

Every reader, writer and the source resolver (`io.sources`) pass URLs and error messages through these
before a message or a log line shows them. No I/O; it imports nothing of the package, so every `io`
module can use it without importing another.
"""

from __future__ import annotations

import re
from typing import Iterable
from urllib.parse import quote, unquote

MASK = "***"

# scheme://user:password@host  ->  the password group (everything up to the last '@' of the authority)
_USERINFO_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<password>[^?#\s]*)(?=@)")
# query parameters that carry a secret: password=, secret=, token=, aws_secret_access_key=, ...
_SECRET_QUERY = re.compile(
    r"(?P<head>[?&;](?:[^=&;#\s]*(?:pass|pwd|secret|token|credential)[^=&;#\s]*)=)[^&;#\s]*", re.I
)


def mask_url(url: object) -> str:
    """The URL with its password (and any secret-looking query parameter) replaced by `***`.

    Accepts a string or a SQLAlchemy `URL`; safe on text that is not a URL (returned with any embedded
    `scheme://user:password@` masked).
    """
    if url is None:
        return ""
    render = getattr(url, "render_as_string", None)
    text = render(hide_password=True) if callable(render) else str(url)
    text = _USERINFO_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _SECRET_QUERY.sub(lambda m: m.group("head") + MASK, text)


def url_secrets(url: object) -> list[str]:
    """The secret strings of a URL (password in clear and percent-encoded), to scrub from any text."""
    if url is None:
        return []
    render = getattr(url, "render_as_string", None)
    text = render(hide_password=False) if callable(render) else str(url)
    found = [m.group("password") for m in _USERINFO_PASSWORD.finditer(text)]
    found += [m.group(0).split("=", 1)[1] for m in _SECRET_QUERY.finditer(text)]
    secrets: set[str] = set()
    for value in found:
        if value:
            secrets.update({value, unquote(value), quote(unquote(value), safe="")})
    return sorted((s for s in secrets if len(s) >= 3), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str]) -> str:
    """`text` with every URL masked and every string of `secrets` replaced by `***`."""
    text = mask_url(text)
    for secret in secrets:
        if secret:
            text = text.replace(secret, MASK)
    return text
