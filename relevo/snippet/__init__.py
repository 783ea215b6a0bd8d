"""The website snippet, ``/relevo.js``: its source files, as served, and their version.

The source is written to be read (and unit-tested with ``node --test``, tests/js/); what is
served drops its comments and indentation, which halves it before gzip. Nothing else is
rewritten: the source holds no multi-line strings, so a line's leading spaces and a line that is
only a comment carry no meaning. The version is a hash of what is served.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FOLDER = Path(__file__).parent
# Concatenated in this order: decide.js registers itself with the client relevo.js made.
PARTS = ("relevo.js", "decide.js")
_BLOCK_COMMENT = re.compile(r"/\*.*?\*/\s*", re.DOTALL)


@dataclass(frozen=True)
class Snippet:
    body: bytes
    gzipped: bytes  # served to clients that accept gzip (uvicorn compresses nothing)
    version: str  # a hash of body: pages may ask for /relevo.js?v=<version>, cached for good


def compact(source: str) -> str:
    """The source without block comments, comment-only lines, indentation and blank lines."""
    lines = (line.strip() for line in _BLOCK_COMMENT.sub("", source).splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("//")) + "\n"


@cache
def snippet() -> Snippet:
    source = "".join((FOLDER / part).read_text() for part in PARTS)
    body = compact(source).encode()
    # mtime=0: the same bytes on every start, so every worker's copy is the same.
    gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    return Snippet(body, gzipped, hashlib.sha256(body).hexdigest()[:16])
