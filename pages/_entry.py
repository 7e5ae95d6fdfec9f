"""How a page file starts: under the router (``app.py``) it renders; run on its own it hands over
to the router.

Streamlit also treats a folder named ``pages/`` next to the main script as old-style (v1) pages:
on the first run of a fresh server process (and on every ``AppTest`` run) a request for
``/failures`` executes ``pages/failures.py`` directly, without ``app.py`` — no page config, no
sidebar, the old page list. A page file's ``__main__`` hook therefore calls ``run_page``: while
``app.py`` is routing it renders the page; otherwise it runs ``app.py``, whose ``st.navigation``
then runs the same page the normal way.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app.py"
_routing: ContextVar[bool] = ContextVar("inertialar_app_routing", default=False)


@contextmanager
def routing() -> Iterator[None]:
    """Mark the page run started by ``app.py``'s ``st.navigation``."""
    token = _routing.set(True)
    try:
        yield
    finally:
        _routing.reset(token)


def run_page(render: Callable[[], None]) -> None:
    """Render when routed by app.py; otherwise run app.py (which routes back to this page)."""
    if _routing.get():
        render()
    else:
        runpy.run_path(str(APP), run_name="__main__")
