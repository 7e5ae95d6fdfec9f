"""Markdown documents (model cards, result tables) embedded in a page."""

from __future__ import annotations

import re


def demote_headings(markdown: str, levels: int = 2) -> str:
    """Headings pushed ``levels`` down (``#`` → ``###``) outside code fences, so an embedded
    document's title sits below the page's; headings holding code lose the backticks (no huge
    monospace)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            hashes, text = line.split(" ", 1)
            line = "#" * min(6, len(hashes) + levels) + " " + text.replace("`", "")
        out.append(line)
    return "\n".join(out)
