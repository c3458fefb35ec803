"""Lines of code a user writes in a Pulumi program: lines holding a token other than a
comment or a docstring (blank lines, comments and docstrings are not counted).

    python benchmarks/user_lines.py examples/single-tier/__main__.py examples/two-teams/__main__.py
"""

from __future__ import annotations

import io
import sys
import tokenize
from pathlib import Path

SKIP = {
    tokenize.COMMENT,
    tokenize.NL,
    tokenize.NEWLINE,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
}
STATEMENT_START = {tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.NL}


def code_lines(source: str) -> int:
    tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    lines: set[int] = set()
    previous = None
    for i, token in enumerate(tokens):
        if token.type in SKIP:
            continue
        docstring = (
            token.type == tokenize.STRING
            and (previous is None or previous.type in STATEMENT_START)
            and tokens[i + 1].type in (tokenize.NEWLINE, tokenize.ENDMARKER)
        )
        if not docstring:
            lines.update(range(token.start[0], token.end[0] + 1))
        previous = token
    return len(lines)


def main(paths: list[str]) -> None:
    for path in paths:
        print(f"{code_lines(Path(path).read_text()):4d}  {path}")


if __name__ == "__main__":
    main(sys.argv[1:])
