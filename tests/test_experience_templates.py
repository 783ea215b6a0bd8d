"""Experiences' templates: compiled when saved (a problem names the line), rendered in
Jinja2's sandbox with autoescape, and no saved template can make a huge value, loop without
bound or write past the output bound: each of those fails the render (the decision falls
back), quickly."""

from __future__ import annotations

import pytest

from relevo.experiences.templates import MAX_OUTPUT, TemplateFailed, compile_problem, render


def test_a_template_renders_its_variables_escaped() -> None:
    html = render("<h2>{{ content.headline }}</h2>", {"content": {"headline": "<b>Hi</b> & co"}})
    assert html == "<h2>&lt;b&gt;Hi&lt;/b&gt; &amp; co</h2>"


def test_a_template_that_does_not_compile_names_its_line() -> None:
    assert compile_problem("<p>\n{{ content.x </p>") is not None
    assert (compile_problem("<p>\n{{ content.x </p>") or "").startswith("line 2")
    assert compile_problem("{% for p in recommendations %}{{ p.title }}{% endfor %}") is None
    assert compile_problem("x" * 20_001) == "the template is longer than 20000 characters"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",  # Python's internals
        "{{ content.__init__.__globals__ }}",
        "{{ 'a' * 1000000000 }}",  # a huge value
        "{{ [1] * 1000000000 }}",
        "{{ 1000000000 * 'a' }}",
        "{{ 2 ** 1000000000 }}",
        "{{ '%*s' % (1000000000, '') }}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}",  # loops
        "{% for i in range(100000) %}x{% endfor %}",
        "{% for i in range(900) %}" + "y" * 100 + "{% endfor %}",  # past the output bound
        "{{ 1 / 0 }}",
        "{{ missing.attribute.deeper }}",
        "{{ lipsum() }}",  # no globals but range
    ],
)
def test_a_template_cannot_escape_or_exhaust_the_server(source: str) -> None:
    with pytest.raises(TemplateFailed):
        render(source, {"content": {}})


def test_ranges_are_budgeted_per_render_not_per_process() -> None:
    source = "{% for i in range(600) %}{% endfor %}ok"
    for _ in range(5):  # each render starts with the whole budget
        assert render(source, {}) == "ok"


def test_output_up_to_the_bound_renders() -> None:
    assert len(render("{{ 'a' * n }}", {"n": MAX_OUTPUT})) == MAX_OUTPUT
