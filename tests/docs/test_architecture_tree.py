"""docs/architecture.md's module tree is the real one: one line per module, its docstring's first line.

Regenerate after moving modules: ``.venv/bin/python tests/docs/test_architecture_tree.py --write``.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
BEGIN, END = "<!-- module tree: begin -->", "<!-- module tree: end -->"


def summary(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return first.rstrip(".")


def tree() -> str:
    lines = ["```"]
    for package in ("medallion_resources", "medallion_assets"):
        for path in sorted((REPO / package).rglob("*.py")):
            rel = path.relative_to(REPO)
            depth = len(rel.parts) - 1
            name = rel.name if rel.name != "__init__.py" else f"{rel.parent.name}/"
            if rel.name == "__init__.py":
                depth -= 1
            text = summary(path)
            lines.append(f"{'    ' * depth}{name:<{34 - 4 * depth}} {text}".rstrip())
    lines.append("```")
    return "\n".join(lines)


def block(text: str) -> str:
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip("\n")


def test_the_module_tree_in_the_docs_is_the_real_one() -> None:
    assert block(DOC.read_text()) == tree(), (
        "docs/architecture.md's module tree is out of date: run "
        ".venv/bin/python tests/docs/test_architecture_tree.py --write"
    )


def test_every_module_says_what_it_is_for() -> None:
    silent = [
        str(p.relative_to(REPO))
        for package in ("medallion_resources", "medallion_assets")
        for p in (REPO / package).rglob("*.py")
        if not summary(p)
    ]
    assert not silent, f"modules without a docstring: {silent}"


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + tree() + "\n" + text[end:])
