"""Experiences' HTML templates: Jinja2 in its sandbox, compiled when saved, rendered per
decision. A template sees only the variables the decision gives it (the profile's safe fields,
the variant's content, the recommendations, the request context); the sandbox refuses access
to Python internals, output is autoescaped and cut off past ``MAX_OUTPUT`` characters, so a
saved template can neither read what it must not nor make a decision slow or large.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SOURCE = 20_000  # characters of a saved template
MAX_OUTPUT = 50_000  # characters a render may produce
MAX_RANGE = 1_000  # items of all the `range(...)` of one render together: nested loops too
MAX_EXPONENT = 100

# What the render in progress has spent of its ranges (renders run one at a time per thread).
_spent: ContextVar[int] = ContextVar("relevo_template_ranges", default=0)


class TemplateFailed(Exception):
    """A template that failed at render time: the decision skips the variant."""


def _bounded_range(*args: int) -> range:
    made = range(*args)
    spent = _spent.get() + len(made)
    if spent > MAX_RANGE:
        raise TemplateFailed(f"ranges of {spent} items in one render; at most {MAX_RANGE}")
    _spent.set(spent)
    return made


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple)


class _Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's sandbox keeps templates from Python's internals, not from making huge values:
    `'a' * 10**9`, `2 ** 10**9` or `'%*s' % (10**9, '')` are refused here before they are
    made."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sized, times in ((left, right), (right, left)):
                if _sized(sized) and isinstance(times, int) and len(sized) * times > MAX_OUTPUT:
                    raise TemplateFailed(f"a value of more than {MAX_OUTPUT} items")
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise TemplateFailed(f"an exponent above {MAX_EXPONENT}")
        elif operator == "%" and isinstance(left, str):
            result = super().call_binop(context, operator, left, right)
            if isinstance(result, str) and len(result) > MAX_OUTPUT:
                raise TemplateFailed(f"a value of more than {MAX_OUTPUT} characters")
            return result
        return super().call_binop(context, operator, left, right)


@lru_cache(maxsize=1)
def environment() -> ImmutableSandboxedEnvironment:
    env = _Sandbox(autoescape=True, undefined=Undefined)
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
    spent = _spent.set(0)
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
    finally:
        _spent.reset(spent)
    return "".join(parts)
