"""Experiences' HTML templates: Jinja2 in its sandbox, compiled when saved, rendered per
decision. A template sees only the variables the decision gives it (the profile's safe fields,
the variant's content, the recommendations, the request context); the sandbox refuses access
to Python internals, output is autoescaped and cut off past ``MAX_OUTPUT`` characters, so a
saved template can neither read what it must not nor make a decision slow or large.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SOURCE = 20_000  # characters of a saved template
MAX_OUTPUT = 50_000  # characters a render may produce
MAX_RANGE = 1_000  # `range(n)` in a template: enough for a list of cards, not a loop bomb


class TemplateFailed(Exception):
    """A template that failed at render time: the decision skips the variant."""


def _bounded_range(*args: int) -> range:
    made = range(*args)
    if len(made) > MAX_RANGE:
        raise TemplateFailed(f"range of {len(made)} items; at most {MAX_RANGE}")
    return made


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=True, undefined=Undefined)
    env.globals = {"range": _bounded_range}  # no other global: no lipsum, cycler, dict...
    return env


def compile_problem(source: str) -> str | None:
    """Why the template cannot be saved (a text naming the line), or None."""
    if len(source) > MAX_SOURCE:
        return f"the template is longer than {MAX_SOURCE} characters"
    try:
        environment().parse(source)
    except TemplateSyntaxError as error:
        return f"line {error.lineno}: {error.message}"
    except (TemplateError, RecursionError, ValueError) as error:
        return f"does not compile ({error})"
    return None


@lru_cache(maxsize=2048)
def _compiled(source: str) -> Any:
    return environment().from_string(source)


def render(source: str, variables: Mapping[str, Any]) -> str:
    """The rendered HTML; raises TemplateFailed for any failure (the caller falls back)."""
    parts: list[str] = []
    size = 0
    try:
        # Streamed, so a template that would write megabytes stops at the bound.
        for part in _compiled(source).generate(**variables):
            size += len(part)
            if size > MAX_OUTPUT:
                raise TemplateFailed(f"renders more than {MAX_OUTPUT} characters")
            parts.append(part)
    except TemplateFailed:
        raise
    except Exception as error:  # a saved template may fail in any way: never the page
        raise TemplateFailed(f"{type(error).__name__}: {error}"[:500]) from None
    return "".join(parts)
