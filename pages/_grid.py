"""A grid of 2-D structure drawings (``inertialar.chem.depict``), paged 50 at a time; each cell's
"3D" button opens that molecule in the page's 3-D player."""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence

import streamlit as st

PER_PAGE = 50
COLUMNS = 5


def svg_img(svg: str, title: str) -> str:
    """An SVG drawing as an ``<img>`` with a data URI (Streamlit's HTML sanitiser strips inline SVG)."""
    data = base64.b64encode(svg.encode()).decode()
    return f'<div class="mol2d"><img alt="{title}" title="{title}" src="data:image/svg+xml;base64,{data}"></div>'


def molecule_grid(ns: str, svgs: Sequence[str], captions: Sequence[str]) -> int | None:
    """Draw the grid (session keys ``{ns}.grid_*``); the index whose "3D" button was pressed, or None."""
    n = len(svgs)
    pages = max(1, math.ceil(n / PER_PAGE))
    page = int(st.number_input(f"Grid page (of {pages}, {PER_PAGE} molecules each)", 1, pages, 1,
                               key=f"{ns}.grid_page")) if pages > 1 else 1
    start, stop = (page - 1) * PER_PAGE, min(n, page * PER_PAGE)
    picked = None
    for row in range(start, stop, COLUMNS):
        for col, k in zip(st.columns(COLUMNS), range(row, min(stop, row + COLUMNS))):
            with col:
                st.html(svg_img(svgs[k], f"molecule {k + 1}"))
                st.caption(captions[k])
                if st.button("3D", key=f"{ns}.grid_open.{k}", help=f"Show molecule #{k + 1} in the 3-D player"):
                    picked = k
    return picked
