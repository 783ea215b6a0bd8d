"""Which web pages may call Relevo with a browser source's key (CORS).

A browser source lists the origins of the shop's pages (``https://shop.example``); a page on
any other origin is refused. ``*`` allows every origin. A new browser source allows none until
they are set: a public key that any site can use lets any site write into the shop's profiles
from its own visitors' browsers, so the shop says where its pages are. A page served by Relevo
itself (same origin) needs no entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from relevo.errors import RelevoError

ANY_ORIGIN = "*"
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_ORIGINS = 100


def normalise_origin(value: str) -> str:
    """``scheme://host[:port]`` as a browser sends it in ``Origin`` (lower case, no default port,
    no path), or ``*``; anything else is refused with what was wrong."""
    text = value.strip()
    if text == ANY_ORIGIN:
        return ANY_ORIGIN
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise RelevoError(f"origin {value!r} is not a URL like https://shop.example") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS or not parts.hostname:
        raise RelevoError(f"origin {value!r} must start with http:// or https:// and name a host")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise RelevoError(
            f"origin {value!r} is only scheme://host[:port], without a path, query or user"
        )
    scheme = parts.scheme.lower()
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def normalise_origins(values: Iterable[str]) -> tuple[str, ...]:
    """Each origin normalised, duplicates removed, order kept."""
    seen = dict.fromkeys(normalise_origin(v) for v in values)
    if len(seen) > MAX_ORIGINS:
        raise RelevoError(f"at most {MAX_ORIGINS} origins per source")
    return tuple(seen)


def origin_allowed(allowed: Iterable[str], origin: str) -> bool:
    """Whether a request's ``Origin`` header is one of ``allowed`` (which are normalised)."""
    try:
        given = normalise_origin(origin)
    except RelevoError:
        return False  # "null" (a sandboxed frame, a file: page) and other non-URLs
    if given == ANY_ORIGIN:
        return False
    return any(entry in (ANY_ORIGIN, given) for entry in allowed)
