"""The website snippet, ``/relevo.js``: its source files, as served, and their version.

The source is written to be read (and unit-tested with ``node --test``, tests/js/); what is
served drops its comments and indentation, which halves it before gzip, and the spaces between
tokens that need none (``a = b`` -> ``a=b``, a twentieth less gzipped). Nothing else is
rewritten: the source holds no multi-line strings, so a line's leading spaces and a line that is
only a comment carry no meaning, and line ends stay (automatic semicolons keep their meaning).
Within a line, strings and regular expressions are copied as they are: a ``/`` starts a regular
expression after an operator, a bracket, a comma or nothing; after a word or ``)`` it is read as
a division (telling them apart there needs a parser), so a regular expression after ``return``
must hold no space, quote or ``//`` (the source's hold none). The version is a hash of what is
served.
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
_WORD = re.compile(r"[\w$]")
_BEFORE_REGEX = set("(,=:[!&|?{};+-*%<>~^")


@dataclass(frozen=True)
class Snippet:
    body: bytes
    gzipped: bytes  # served to clients that accept gzip (uvicorn compresses nothing)
    version: str  # a hash of body: pages may ask for /relevo.js?v=<version>, cached for good


def _quoted_end(line: str, start: int) -> int:
    """Where the string or regular expression opened at ``start`` ends (just past it)."""
    quote, at, in_class = line[start], start + 1, False
    while at < len(line):
        char = line[at]
        if char == "\\":
            at += 1
        elif quote == "/" and char in "[]":
            in_class = char == "["
        elif char == quote and not in_class:
            break
        at += 1
    at += 1
    if quote == "/":  # the flags
        while at < len(line) and line[at].isalpha():
            at += 1
    return at


def squeeze(line: str) -> str:
    """One line of code without its trailing comment and the spaces no token needs."""
    out: list[str] = []
    spaced = False
    at = 0
    while at < len(line):
        char = line[at]
        if char in " \t":
            spaced, at = True, at + 1
            continue
        if line.startswith("//", at):
            break
        last = out[-1][-1] if out else ""
        if char in "'\"`" or (char == "/" and (not last or last in _BEFORE_REGEX)):
            end = _quoted_end(line, at)
            token, at = line[at:end], end
        else:
            token, at = char, at + 1
        # Two words, or a + + / - - that would become ++ / --, keep their space.
        if (
            spaced
            and last
            and ((_WORD.match(last) and _WORD.match(token[0])) or last + token[0] in ("++", "--"))
        ):
            out.append(" ")
        spaced = False
        out.append(token)
    return "".join(out)


def compact(source: str) -> str:
    """The source without comments, indentation, blank lines and spaces between tokens."""
    lines = (squeeze(line.strip()) for line in _BLOCK_COMMENT.sub("", source).splitlines())
    return "\n".join(line for line in lines if line) + "\n"


@cache
def snippet() -> Snippet:
    source = "".join((FOLDER / part).read_text() for part in PARTS)
    body = compact(source).encode()
    # mtime=0: the same bytes on every start, so every worker's copy is the same.
    gzipped = gzip.compress(body, compresslevel=9, mtime=0)
    return Snippet(body, gzipped, hashlib.sha256(body).hexdigest()[:16])
