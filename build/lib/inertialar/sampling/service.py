"""One sampling service per process: a worker thread that owns sampling and merges requests.

Many users (the app's sessions) submit ``SampleSettings``; the worker waits until no request has
arrived for ``window_s`` (at most ``max_wait_s`` after the first), then runs every queued request
that shares the model and Heun step count as one batch of ``sampler.Part``s (at most
``max_batch_rows`` molecules; a request larger than ``chunk_rows`` is served in chunks, so a big
request and small ones can share batches). The sampler's per-row settings and per-molecule
generators give each request exactly the molecules it would get alone (rule: ``inertialar.sampling.sampler``
docstring). A ``Ticket`` reports the request's progress and its queue position; ``submit`` refuses
work beyond the bounds with ``ServiceFull`` / ``ValueError`` (one-line messages).

Threads: only the worker runs the model, with ``torch.set_num_threads(threads)`` (default
``THREADS`` = 1, or ``$INERTIALAR_TORCH_THREADS``), so concurrent users never oversubscribe the
CPU (thread policy: ``inertialar.runtime``). The module never imports Streamlit; the app holds one
instance in ``st.cache_resource`` (``pages/_sampling.py``).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import torch

from inertialar import runtime
from inertialar.nn.model import InertialAR
from inertialar.nn.polisher import Polisher
from inertialar.sampling.sampler import SampleResult, sample_parts, to_result
from inertialar.sampling.settings import Part, SampleSettings
from inertialar.sampling.trajectory import Trajectory

MAX_REQUEST_MOLECULES = 500  # per request
MAX_QUEUED = 32  # requests waiting or running
# A batch starts once no request has arrived for WINDOW_S … (0.3 s split a room of ten clicks in
# two batches when the browsers' click handling delayed a few requests on the busy 2-core machine)
WINDOW_S = 0.5
MAX_WAIT_S = 1.5  # … or this long after its oldest request arrived
CHUNK_ROWS = 100  # molecules of one request per batch
MAX_BATCH_ROWS = 200  # molecules per batch
# Torch intra-op threads of the worker. One: a step's matrices are small (≤ 200 rows), and on a
# shared machine OpenMP threads that wait for each other collapse — measured on the 2-core box at
# load ≈ 10: 4 molecules took 2.2 s with 1 thread and 110 s with 2 (40 molecules: 4.2 s vs 27 s).
THREADS = 1


log = logging.getLogger(__name__)


class ServiceFull(RuntimeError):
    """The queue holds ``max_queued`` requests already; the message is one line."""


@dataclass(eq=False)
class Ticket:
    """One request: its settings, state ("queued", "running", "done", "failed"), progress in 0..1
    and, when done, ``result`` (or ``error``, one line)."""

    id: int
    settings: SampleSettings
    model: InertialAR = field(repr=False)
    model_key: str
    submitted: float
    polisher: Polisher | None = field(default=None, repr=False)
    state: str = "queued"
    progress: float = 0.0
    result: SampleResult | None = None
    error: str | None = None
    _next_row: int = 0  # first draw not yet handed to a batch
    _trajectories: dict[int, list[Trajectory]] = field(default_factory=dict, repr=False)
    _done_event: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def finished(self) -> bool:
        return self._done_event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` s; True once the request is done or failed."""
        return self._done_event.wait(timeout)


class SamplingService:
    """The worker and its queue. ``submit`` → ``Ticket``; ``position(ticket)``; ``close()``."""

    def __init__(self, *, window_s: float = WINDOW_S, max_wait_s: float = MAX_WAIT_S,
                 max_request_molecules: int = MAX_REQUEST_MOLECULES,
                 max_queued: int = MAX_QUEUED, chunk_rows: int = CHUNK_ROWS, max_batch_rows: int = MAX_BATCH_ROWS,
                 threads: int | None = None):
        self.window_s, self.max_wait_s = window_s, max(max_wait_s, window_s)
        self.max_request_molecules = max_request_molecules
        self.max_queued = max_queued
        self.chunk_rows = chunk_rows
        self.max_batch_rows = max(max_batch_rows, chunk_rows)
        self.threads = threads or runtime.threads(THREADS)
        self.batches = 0  # batches run so far
        self.history: deque[dict] = deque(maxlen=100)  # per batch: requests, molecules, wait and run seconds
        self._queue: deque[Ticket] = deque()  # FIFO: tickets with molecules not yet finished
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self._closed = False
        self._worker = threading.Thread(target=self._run, name="inertialar-sampling", daemon=True)
        self._worker.start()

    # -- the users' side ------------------------------------------------------------------------
    def submit(self, model: InertialAR, settings: SampleSettings, model_key: str | None = None,
               polisher: Polisher | None = None) -> Ticket:
        """Queue a request (polished by ``polisher`` where given, as ``sampler.to_result`` does);
        raises ValueError (bad settings, too many molecules) or ServiceFull."""
        settings.check(model.cfg)
        if settings.n > self.max_request_molecules:
            raise ValueError(f"at most {self.max_request_molecules} molecules per request, got {settings.n}")
        with self._cond:
            if self._closed:
                raise ServiceFull("the sampling service has stopped")
            if len(self._queue) >= self.max_queued:
                raise ServiceFull(f"the sampling service is full ({len(self._queue)} requests in the queue); "
                                  "try again in a few seconds")
            ticket = Ticket(next(self._ids), settings, model, model_key or f"id{id(model)}", time.monotonic(), polisher=polisher)
            self._queue.append(ticket)
            self._cond.notify_all()
        return ticket

    def position(self, ticket: Ticket) -> int:
        """0 while the request is being sampled (or finished); k ≥ 1 = k − 1 requests wait before it."""
        with self._cond:
            if ticket.state != "queued":
                return 0
            waiting = [t for t in self._queue if t.state == "queued"]
            return waiting.index(ticket) + 1 if ticket in waiting else 0

    def load(self) -> tuple[int, int]:
        """(requests being sampled, requests waiting)."""
        with self._cond:
            running = sum(t.state == "running" for t in self._queue)
            return running, len(self._queue) - running

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._worker.join(timeout)

    # -- the worker -----------------------------------------------------------------------------
    def _run(self) -> None:
        torch.set_num_threads(self.threads)  # the only thread that runs the model
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed:
                    self._fail_all("the sampling service has stopped")
                    return
                first = self._queue[0].submitted
            with self._cond:
                self._gather(first)
                batch = self._take_batch()
            self._run_batch(batch)

    def _gather(self, first: float) -> None:
        """Let a burst of users join (lock held): wait until no request has arrived for
        ``window_s``, at most ``max_wait_s`` after the oldest one."""
        while not self._closed:
            newest = max(t.submitted for t in self._queue)
            wake = min(newest + self.window_s, first + self.max_wait_s) - time.monotonic()
            if wake <= 0:
                return
            self._cond.wait(wake)

    def _take_batch(self) -> list[tuple[Ticket, Part]]:
        """The next chunk of the oldest request plus every compatible chunk that fits (lock held)."""
        head = self._queue[0]
        key = (head.model_key, head.settings.steps, head.settings.record_denoising, head.settings.device)
        batch, rows = [], 0
        for t in self._queue:
            s = t.settings
            if (t.model_key, s.steps, s.record_denoising, s.device) != key or t._next_row >= s.draws:
                continue
            count = min(self.chunk_rows, s.draws - t._next_row)
            if batch and rows + count > self.max_batch_rows:
                break
            batch.append((t, Part(s, t._next_row, count)))
            t._next_row += count
            t.state = "running"
            rows += count
        return batch

    def _run_batch(self, batch: list[tuple[Ticket, Part]]) -> None:
        model = batch[0][0].model
        steps_total = model.cfg.max_atoms + 1

        def on_step(step: int) -> None:
            for t, p in batch:
                done = sum(len(v) for v in t._trajectories.values())
                t.progress = min(0.99, (done + p.count * (step + 1) / steps_total) / t.settings.draws)

        start = time.monotonic()
        try:
            outputs = sample_parts(model, [p for _, p in batch], batch[0][1].settings.device, on_step)
        except Exception as err:  # noqa: BLE001 — a failed batch fails its requests, not the service
            text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            with self._cond:
                for t, _ in batch:
                    self._finish(t, error=f"sampling failed: {text[:200]}")
            return
        self.batches += 1
        self.history.append({"requests": len(batch), "molecules": sum(p.count for _, p in batch),
                             "waited_s": round(start - min(t.submitted for t, _ in batch), 3),
                             "run_s": round(time.monotonic() - start, 3)})
        log.info("batch %d: %s", self.batches, self.history[-1])
        complete = []
        with self._cond:
            for (t, p), trajs in zip(batch, outputs):
                t._trajectories[p.start] = trajs
                if sum(len(v) for v in t._trajectories.values()) == t.settings.draws:
                    complete.append((t, [tr for start in sorted(t._trajectories) for tr in t._trajectories[start]]))
                else:
                    t.state = "queued" if t._next_row < t.settings.draws else "running"
        for t, rows in complete:  # selection and polish outside the lock: submitters never wait for them
            try:
                result, error = to_result(t.settings, rows, t.polisher), None
            except Exception as err:  # noqa: BLE001 — one request's failure is its own
                result, error = None, f"polish or selection failed: {str(err).splitlines()[0][:200]}"
            with self._cond:
                self._finish(t, result=result, error=error)

    def _finish(self, t: Ticket, result: SampleResult | None = None, error: str | None = None) -> None:
        t.result, t.error = result, error
        t.state, t.progress = ("done", 1.0) if error is None else ("failed", t.progress)
        if t in self._queue:
            self._queue.remove(t)
        t._trajectories = {}
        t._done_event.set()

    def _fail_all(self, message: str) -> None:
        for t in list(self._queue):
            self._finish(t, error=message)
