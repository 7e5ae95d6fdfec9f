"""Committed result files shown on a page: Markdown documents (headings demoted) and CSV tables
(columns checked; a missing file is an ``st.info`` naming its command, a bad one an ``st.error``)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import streamlit as st


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


def read_csv(path: Path, rel: str, columns: list[str], command: str) -> pd.DataFrame | None:
    """The table at ``path`` (shown as ``rel``), or None after an st.info (missing or empty) / st.error
    (unreadable or missing columns)."""
    if not path.exists():
        st.info(f"No `{rel}` yet. Produce it with `{command}`.")
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as err:
        st.error(f"Cannot read {rel}: {str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__}")
        return None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        st.error(f"{rel} lacks column(s) {', '.join(missing)}")
        return None
    if df.empty:
        st.info(f"`{rel}` has no rows yet. Produce it with `{command}`.")
        return None
    return df
