"""The app's one sampling service (``inertialar.service``) and the wait for a request's result.

Every page that samples submits to ``service()`` — one ``SamplingService`` per server process,
held by ``st.cache_resource`` — and waits here with a progress bar that shows the request's own
progress, or its place in the queue while others are being served. Bad settings and a full
queue become one ``st.error`` line and ``None``.
"""

from __future__ import annotations

import streamlit as st

from inertialar.sampler import SampleResult, SampleSettings
from inertialar.service import SamplingService, ServiceFull
from pages._checkpoint import LoadedModel

POLL_S = 0.15


@st.cache_resource(show_spinner=False)
def service() -> SamplingService:
    """The process-wide sampling worker (shared by every session)."""
    return SamplingService()


def sample_with_progress(loaded: LoadedModel, settings: SampleSettings) -> SampleResult | None:
    """Submit, show progress / queue position until done; the result, or None after an st.error."""
    svc = service()
    try:
        ticket = svc.submit(loaded.model, settings, loaded.key)
    except (ValueError, ServiceFull) as err:
        st.error(f"Cannot sample now: {err}")
        return None
    text = f"Sampling {settings.n} molecule(s) …"
    bar = st.progress(0.0, text=text)
    while not ticket.wait(POLL_S):
        ahead = svc.position(ticket)
        if ahead:
            running, waiting = svc.load()
            bar.progress(ticket.progress, text=f"Waiting: position {ahead} in the queue "
                                               f"({running} request(s) being sampled, {waiting} waiting) …")
        else:
            bar.progress(ticket.progress, text=f"{text} {100 * ticket.progress:.0f} %")
    bar.empty()
    if ticket.error is not None:
        st.error(f"Cannot sample: {ticket.error}")
        return None
    return ticket.result
