"""The app's one sampling service (``inertialar.sampling.service``) and the wait for a request's result.

Every page that samples submits to ``service()`` — one ``SamplingService`` per server process,
held by ``st.cache_resource`` — and waits here with a progress bar that shows the request's own
progress, or its place in the queue while others are being served. Bad settings and a full
queue become one ``st.error`` line and ``None``.

The bar is redrawn at most once per ``PROGRESS_EVERY_S``, and only when its text changes: every
update re-renders the whole page in the user's browser, and with ten browsers on the app's small
machine, updates every 0.15 s took a full CPU core from the sampler (``benchmarks/app_load.py``).
"""

from __future__ import annotations

import time

import streamlit as st

from inertialar.sampling.sampler import SampleResult
from inertialar.sampling.service import SamplingService, ServiceFull
from inertialar.sampling.settings import SampleSettings
from pages._checkpoint import LoadedModel

POLL_S = 0.1  # how soon a finished request is noticed
PROGRESS_EVERY_S = 1.0  # bar redraws at most this often


@st.cache_resource(show_spinner=False)
def service() -> SamplingService:
    """The process-wide sampling worker (shared by every session)."""
    return SamplingService()


def sample_with_progress(loaded: LoadedModel, settings: SampleSettings) -> SampleResult | None:
    """Submit, show progress / queue position until done; the result, or None after an st.error."""
    svc = service()
    try:
        ticket = svc.submit(loaded.model, settings, loaded.key, loaded.polisher)
    except (ValueError, ServiceFull) as err:
        st.error(f"Cannot sample now: {err}")
        return None
    text = f"Sampling {settings.n} molecule(s) …"
    bar = st.progress(0.0, text=text)
    shown, last = text, time.monotonic()
    while not ticket.wait(POLL_S):
        if time.monotonic() - last < PROGRESS_EVERY_S:
            continue
        ahead = svc.position(ticket)
        if ahead:
            running, waiting = svc.load()
            now = (f"Waiting: position {ahead} in the queue "
                   f"({running} request(s) being sampled, {waiting} waiting) …")
        else:
            now = f"{text} {100 * ticket.progress:.0f} %"
        if now != shown:
            bar.progress(ticket.progress, text=now)
            shown, last = now, time.monotonic()
    bar.empty()
    if ticket.error is not None:
        st.error(f"Cannot sample: {ticket.error}")
        return None
    return ticket.result
