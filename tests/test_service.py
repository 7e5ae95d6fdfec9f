"""The shared sampling service and the sampler's per-row settings it relies on.

The reproducibility rule (``inertialar.sampling.sampler`` docstring): a molecule is a function of its
request's settings, seed and its index in the request — not of the batch it was sampled in —
with identical atom types and coordinates within ``REPRO_ATOL`` Å.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from inertialar.chem.frames import canonicalize
from inertialar.nn.diffusion import Guide
from inertialar.sampling.sampler import REPRO_ATOL, SampleResult, sample, sample_parts, to_result
from inertialar.sampling.service import SamplingService, ServiceFull
from inertialar.sampling.settings import Part, SampleSettings


def _same(a: SampleResult, b: SampleResult) -> None:
    assert len(a.molecules) == len(b.molecules)
    for ma, mb in zip(a.molecules, b.molecules):
        assert ma.elements == mb.elements
        np.testing.assert_allclose(ma.coords, mb.coords, atol=REPRO_ATOL, rtol=0)


def _mixed_requests(ethanol) -> list[SampleSettings]:
    prefix = canonicalize(ethanol).molecule
    prefix = type(prefix)(prefix.elements[:3], prefix.coords[:3])
    return [SampleSettings(n=3, seed=1, steps=3),
            SampleSettings(n=2, seed=2, steps=3, present=("ether",), cfg_scale=2.0, temperature=1.3),
            SampleSettings(n=4, seed=1, steps=3, absent=("alcohol",), cfg_scale=0.0, coord_temperature=0.9),
            SampleSettings(n=2, seed=7, steps=3, prefix=prefix, present=("alcohol",), cfg_scale=1.0),
            SampleSettings(n=1, seed=3, steps=3, present=("nitrile",), absent=("ether",), cfg_scale=3.5)]


def test_a_merged_batch_gives_each_request_its_molecules_alone(tiny_model, ethanol):
    requests = _mixed_requests(ethanol)
    merged = sample_parts(tiny_model, [Part(s, 0, s.n) for s in requests], "cpu")
    for s, trajs in zip(requests, merged):
        alone = sample(tiny_model, s)
        _same(to_result(s, trajs), alone)
        for ta, tb in zip(trajs, alone.trajectories):
            np.testing.assert_allclose(ta.probs, tb.probs, atol=1e-5)


def test_molecules_do_not_depend_on_batch_size(tiny_model):
    base = dict(n=7, seed=4, steps=3, present=("ketone",), cfg_scale=2.0)
    _same(sample(tiny_model, SampleSettings(batch_size=7, **base)), sample(tiny_model, SampleSettings(batch_size=2, **base)))
    first = sample(tiny_model, SampleSettings(**{**base, "n": 3}))  # molecule k depends on (seed, k) only
    _same(first, SampleResult(sample(tiny_model, SampleSettings(**base)).molecules[:3], []))


def test_guided_rows_match_a_whole_guided_batch(tiny_model):
    """Per-row guidance (some rows guided, some not) gives each row what it gets alone."""
    head = tiny_model.diffusion
    g = torch.Generator().manual_seed(0)
    z = torch.randn(4, 32, generator=g)
    twins = torch.randn(2, 32, generator=g)  # unconditional twins of rows 1 and 3
    noise = torch.randn(4, 3, generator=g)
    guide = Guide(torch.tensor([1, 3]), torch.tensor([2.5, 0.0]))
    x, path = head.sample(torch.cat([z, twins]), noise, 3, guide=guide, record=True)
    assert path.shape == (4, 4, 3)
    plain, _ = head.sample(z[[0, 2]], noise[[0, 2]], 3)
    torch.testing.assert_close(x[[0, 2]], plain, atol=1e-5, rtol=0)
    uncond, _ = head.sample(twins[1:], noise[3:], 3)  # scale 0 = the unconditional model
    torch.testing.assert_close(x[3:], uncond, atol=1e-5, rtol=0)
    both, _ = head.sample(torch.cat([z[1:2], twins[:1]]), noise[1:2], 3,
                          guide=Guide(torch.tensor([0]), torch.tensor([2.5])))
    torch.testing.assert_close(x[1:2], both, atol=1e-5, rtol=0)


@pytest.fixture
def service():
    svc = SamplingService(window_s=0.3, max_queued=6, max_request_molecules=20, chunk_rows=4, max_batch_rows=8,
                          threads=1)
    yield svc
    svc.close()


def test_service_merges_concurrent_requests_and_each_gets_its_own(service, tiny_model, ethanol):
    requests = _mixed_requests(ethanol)
    tickets = [service.submit(tiny_model, s, "tiny") for s in requests]
    assert all(t.wait(60) for t in tickets)
    for s, t in zip(requests, tickets):
        assert t.state == "done" and t.error is None and t.progress == 1.0
        _same(t.result, sample(tiny_model, s))
    assert service.batches == 2  # 12 molecules, ≤ 8 per batch: two batches, not five


def test_service_serves_requests_from_many_threads(service, tiny_model):
    results: dict[int, SampleResult] = {}

    def user(seed: int) -> None:
        t = service.submit(tiny_model, SampleSettings(n=1, seed=seed, steps=2), "tiny")
        t.wait(60)
        results[seed] = t.result

    threads = [threading.Thread(target=user, args=(seed,)) for seed in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    for seed in range(5):
        _same(results[seed], sample(tiny_model, SampleSettings(n=1, seed=seed, steps=2)))
    assert service.batches == 1


def test_service_reports_queue_position_and_refuses_beyond_its_bounds(tiny_model):
    svc = SamplingService(window_s=30, max_queued=2, max_request_molecules=5, threads=1)  # holds its queue
    try:
        with pytest.raises(ValueError, match="at most 5 molecules per request"):
            svc.submit(tiny_model, SampleSettings(n=6, steps=2))
        with pytest.raises(ValueError, match="both present and absent"):
            svc.submit(tiny_model, SampleSettings(n=1, present=("ether",), absent=("ether",)))
        a = svc.submit(tiny_model, SampleSettings(n=1, steps=2))
        b = svc.submit(tiny_model, SampleSettings(n=1, steps=2))
        assert (svc.position(a), svc.position(b)) == (1, 2) and svc.load() == (0, 2)
        with pytest.raises(ServiceFull, match="full .2 requests in the queue.; try again"):
            svc.submit(tiny_model, SampleSettings(n=1, steps=2))
    finally:
        svc.close()
    assert a.wait(5) and a.state == "failed" and "stopped" in a.error


def test_separate_batches_for_different_step_counts_and_a_failed_batch_leaves_the_service_running(service, tiny_model):
    a = service.submit(tiny_model, SampleSettings(n=1, seed=0, steps=2), "tiny")
    b = service.submit(tiny_model, SampleSettings(n=1, seed=0, steps=3), "tiny")
    assert a.wait(60) and b.wait(60) and service.batches == 2
    broken = torch.nn.Linear(1, 1)  # not an InertialAR: the batch fails with a one-line error
    broken.cfg = tiny_model.cfg
    bad = service.submit(broken, SampleSettings(n=1, steps=2), "broken")
    assert bad.wait(60) and bad.state == "failed" and bad.error.startswith("sampling failed:")
    good = service.submit(tiny_model, SampleSettings(n=1, seed=0, steps=2), "tiny")
    assert good.wait(60) and good.state == "done"
    _same(good.result, a.result)


def test_the_worker_sets_torch_threads(tiny_model):
    svc = SamplingService(window_s=0.0, threads=1)
    seen = []
    orig = svc._run_batch
    svc._run_batch = lambda batch: (seen.append(torch.get_num_threads()), orig(batch))
    try:
        assert svc.submit(tiny_model, SampleSettings(n=1, steps=2)).wait(60)
    finally:
        svc.close()
    assert seen == [1]
