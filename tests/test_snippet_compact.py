"""What /relevo.js serves: the source without comments and the spaces no token needs, its
strings and regular expressions untouched (the JavaScript tests run on the result too:
tests/test_snippet_js.py)."""

from __future__ import annotations

import pytest

from relevo.snippet import compact, squeeze


@pytest.mark.parametrize(
    ("line", "squeezed"),
    [
        ("const a = b + c;", "const a=b+c;"),
        ("if (x) return y; // why", "if(x)return y;"),
        ("a = 'it is // not, a comment' + \"b  c\";", "a='it is // not, a comment'+\"b  c\";"),
        ("s = 'don\\'t  split';", "s='don\\'t  split';"),
        ("x = a + +b - -c;", "x=a+ +b- -c;"),
        ("t = `a  ${b}`;", "t=`a  ${b}`;"),
        ("u = s.replace(/\\/ $/, '');", "u=s.replace(/\\/ $/,'');"),
        ("ok = (/[/ ]x/g).test(v);", "ok=(/[/ ]x/g).test(v);"),
        ("n = total / 2 / count;", "n=total/2/count;"),
        ("return /^https?:$/.test(p) ? u : null;", "return/^https?:$/.test(p)?u:null;"),
        ("typeof module === 'object' && x in y", "typeof module==='object'&&x in y"),
        ("// only a comment", ""),
    ],
)
def test_a_line_loses_only_what_carries_no_meaning(line: str, squeezed: str) -> None:
    assert squeeze(line) == squeezed


def test_comments_indentation_and_blank_lines_go_line_ends_stay() -> None:
    source = "/* a\n * block */\nfunction f() {\n  // why\n\n  return 1  // one\n}\n"
    assert compact(source) == "function f(){\nreturn 1\n}\n"
