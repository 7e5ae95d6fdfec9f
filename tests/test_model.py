"""Model, GeoRoPE, diffusion head, sampler and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inertialar.nn.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from inertialar.nn.diffusion import DiffusionConfig, DiffusionHead, Guide
from inertialar.nn.georope import (
    NystromFeatures,
    apply_rope,
    distance_bias,
    gaussian_kernel,
    rope3d_angles,
    rope_frequencies,
)
from inertialar.nn.model import PRESENT, InertialAR
from inertialar.sampling.sampler import sample
from inertialar.sampling.settings import SampleSettings


def _batch(gen: torch.Generator, b: int = 3, n: int = 6):
    types = torch.randint(0, 5, (b, n), generator=gen)
    coords = torch.randn(b, n, 3, generator=gen) * 1.4
    lengths = torch.tensor([n, n - 2, 3][:b])
    groups = torch.randint(0, 3, (b, 19), generator=gen)
    return types, coords, lengths, groups


def _logits_full(model: InertialAR, types, coords, groups) -> torch.Tensor:
    B, N = types.shape
    h = torch.cat([model._condition_embedding(groups).unsqueeze(1), model._atom_embedding(types, coords)], 1)
    h = h + model.pos_in(torch.arange(N + 1))
    pos = torch.cat([coords.new_zeros(B, 1, 3), coords], 1)
    return model.type_head(model.backbone(h, pos))  # (B, N+1, 6)


def test_forward_returns_finite_losses_and_gradients(tiny_model, generator):
    out = tiny_model.train()(*_batch(generator), generator=generator)
    assert set(out) == {"loss", "ce", "diffusion"}
    out["loss"].backward()
    grads = [p.grad for p in tiny_model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_later_tokens_never_change_earlier_outputs(tiny_model, generator):
    types, coords, _, groups = _batch(generator)
    ref = _logits_full(tiny_model, types, coords, groups)
    types2, coords2 = types.clone(), coords.clone()
    types2[:, 4:] = (types2[:, 4:] + 1) % 5
    coords2[:, 4:] += 3.0
    out = _logits_full(tiny_model, types2, coords2, groups)
    torch.testing.assert_close(out[:, :5], ref[:, :5], atol=1e-6, rtol=0)
    assert not torch.allclose(out[:, 5:], ref[:, 5:])


def test_cached_decoding_matches_full_forward(tiny_model, generator):
    with torch.no_grad():
        tiny_model.backbone.blocks[0].attn.alpha.normal_()  # make the distance bias matter
        types, coords, _, groups = _batch(generator)
        full = _logits_full(tiny_model, types, coords, groups)
        cache = tiny_model.new_cache(len(types))
        steps = [tiny_model.type_logits(tiny_model.condition_step(groups, cache))]
        for t in range(types.shape[1]):
            steps.append(tiny_model.type_logits(tiny_model.atom_step(types[:, t], coords[:, t], cache)))
    torch.testing.assert_close(torch.stack(steps, 1), full, atol=1e-5, rtol=0)


def test_rope3d_scores_depend_only_on_relative_position(generator):
    freqs = rope_frequencies(5)
    q, k = torch.randn(1, 1, 4, 32, generator=generator), torch.randn(1, 1, 4, 32, generator=generator)
    pos = torch.randn(1, 4, 3, generator=generator) * 2

    def scores(p):
        cos, sin = rope3d_angles(p, freqs, 16)
        return apply_rope(q, cos[:, None], sin[:, None]) @ apply_rope(k, cos[:, None], sin[:, None]).transpose(-1, -2)

    shifted = pos + torch.tensor([1.7, -0.4, 2.9])
    torch.testing.assert_close(scores(shifted), scores(pos), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(scores(pos * 1.5), scores(pos), atol=1e-3)


def test_nystrom_features_approximate_the_gaussian_kernel():
    feats = NystromFeatures((1.0, 2.0, 3.0), n_per_axis=8, extent=4.5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 3, generator=g) * 1.4
    y = x + torch.randn(500, 3, generator=g)
    approx = (feats(x) * feats(y)).sum(-1)  # (500, 3)
    for s, sigma in enumerate(feats.sigmas):
        exact = torch.diagonal(gaussian_kernel(x, y, sigma))
        assert (approx[:, s] - exact).abs().mean() < (0.03 if sigma < 1.5 else 0.002)


def test_nystrom_distance_bias_changes_attention_scores_with_distance():
    feats = NystromFeatures((1.0, 2.0), n_per_axis=8, extent=4.5)
    pos = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [3.0, 0, 0]]])
    phi = feats(pos)  # (1, 3, S, M)
    alpha = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # two heads, one σ each
    bias = distance_bias(phi, phi, alpha)  # (1, 2, 3, 3)
    near, far = bias[0, :, 0, 1], bias[0, :, 0, 2]
    assert torch.all(near > far + 0.1)  # closer atoms get larger scores
    assert bias[0, 0, 0, 1] == pytest.approx(np.exp(-0.5), abs=0.05)
    assert torch.all(distance_bias(phi, phi, torch.zeros(2, 2)) == 0)


def test_diffusion_head_fits_a_toy_3d_distribution():
    torch.manual_seed(0)
    head = DiffusionHead(DiffusionConfig(width=64, depth=2, noise_draws=4), z_width=8)
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[2.0, 0, 0], [-2.0, 0, 0]])
    for _ in range(400):
        which = torch.randint(0, 2, (256,), generator=g)
        z = torch.nn.functional.one_hot(which, 8).float()
        x0 = centres[which] + 0.1 * torch.randn(256, 3, generator=g)
        loss = head.loss(x0, z, g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    z = torch.nn.functional.one_hot(torch.zeros(200, dtype=torch.long), 8).float()
    x, path = head.sample(z, torch.randn(200, 3, generator=torch.Generator().manual_seed(1)), steps=20, record=True)
    assert path.shape == (21, 200, 3)
    assert (x - centres[0]).norm(dim=1).median() < 0.3  # conditioned on centre 0


def test_cfg_scale_zero_is_unconditional_and_one_is_conditional(tiny_model):
    head = tiny_model.diffusion
    g = torch.Generator().manual_seed(0)
    z_c, z_u = torch.randn(4, 32, generator=g), torch.randn(4, 32, generator=g)
    both = torch.cat([z_c, z_u])
    noise = torch.randn(4, 3, generator=torch.Generator().manual_seed(5))
    for scale, ref in ((0.0, z_u), (1.0, z_c)):
        guide = Guide(torch.arange(4), torch.full((4,), scale))
        x, _ = head.sample(both, noise, steps=3, guide=guide)
        x_ref, _ = head.sample(ref, noise, steps=3)
        torch.testing.assert_close(x, x_ref, atol=1e-5, rtol=0)


def test_guided_sampling_matches_unguided_at_scale_one(tiny_model):
    base = dict(n=4, seed=2, present=("ether",), steps=3)
    a = sample(tiny_model, SampleSettings(cfg_scale=1.0, **base))
    b = sample(tiny_model, SampleSettings(cfg_scale=1.0 + 1e-9, **base))  # doubled batch path
    for ma, mb in zip(a.molecules, b.molecules):
        assert ma.elements == mb.elements
        np.testing.assert_allclose(ma.coords, mb.coords, atol=1e-4)


def test_same_seed_same_molecules_and_trajectories(tiny_model):
    s = SampleSettings(n=6, seed=11, steps=3, batch_size=4, record_denoising=True)
    a, b = sample(tiny_model, s), sample(tiny_model, s)
    for ma, mb in zip(a.molecules, b.molecules):
        assert ma.elements == mb.elements and np.array_equal(ma.coords, mb.coords)
    tr = a.trajectories[0]
    assert tr.probs.shape[1] == 6 and np.allclose(tr.probs.sum(1), 1, atol=1e-5)
    assert tr.paths.shape[1:] == (4, 3)
    c = sample(tiny_model, SampleSettings(n=6, seed=12, steps=3))
    assert any(ma.elements != mc.elements or not np.array_equal(ma.coords, mc.coords)
               for ma, mc in zip(a.molecules, c.molecules))


def test_trajectory_records_every_placed_atom(tiny_model):
    res = sample(tiny_model, SampleSettings(n=3, seed=0, steps=2))
    for mol, tr in zip(res.molecules, res.trajectories):
        atoms = tr.types != tiny_model.cfg.eos
        assert atoms.sum() == len(mol)
        np.testing.assert_array_equal(tr.coords[atoms], mol.coords)
        assert len(mol) <= tiny_model.cfg.max_atoms


def test_prefix_is_kept_and_completed(tiny_model, ethanol):
    from inertialar.chem.frames import canonicalize

    prefix = canonicalize(ethanol).molecule
    prefix = type(prefix)(prefix.elements[:3], prefix.coords[:3])
    res = sample(tiny_model, SampleSettings(n=2, seed=0, steps=2, prefix=prefix))
    for mol in res.molecules:
        assert mol.elements[:3] == prefix.elements
        np.testing.assert_allclose(mol.coords[:3], prefix.coords)


def test_checkpoint_round_trip_keeps_weights_config_and_meta(tiny_model, tmp_path):
    path = tmp_path / "m.pt"
    save_checkpoint(path, tiny_model, {"steps": 7, "split_hash": "abc"})
    model, meta = load_checkpoint(path)
    assert meta == {"steps": 7, "split_hash": "abc"}
    assert model.cfg == tiny_model.cfg
    for (k, a), (_, b) in zip(tiny_model.state_dict().items(), model.state_dict().items()):
        assert torch.equal(a, b), k


def test_bad_checkpoints_give_one_line_errors(tiny_model, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00garbage")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)

    class Evil:
        def __reduce__(self):
            return (print, ("code ran",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "inertialar-checkpoint", "x": Evil()}, evil)
    truncated = tmp_path / "trunc.pt"
    save_checkpoint(truncated, tiny_model, {})
    truncated.write_bytes(truncated.read_bytes()[:500])
    for path in (junk, foreign, evil, truncated, tmp_path / "missing.pt"):
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        assert "\n" not in str(err.value)


def test_condition_changes_the_type_distribution(tiny_model):
    with torch.no_grad():
        tiny_model.cond_groups.weight.normal_()
        groups = torch.zeros(2, 19, dtype=torch.long)
        groups[1, 0] = PRESENT
        cache = tiny_model.new_cache(2)
        logits = tiny_model.type_logits(tiny_model.condition_step(groups, cache))
    assert not torch.allclose(logits[0], logits[1])


def test_malformed_checkpoint_payloads_give_one_line_errors(tiny_model, tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, tiny_model, {})
    base = torch.load(good, weights_only=True)
    variants = {
        "state_list": {**base, "state_dict": [1, 2]},
        "state_value": {**base, "state_dict": {"x": 3}},
        "config_list": {**base, "config": {**base["config"], "backbone": [1]}},
        "meta_list": {**base, "meta": [1]},
        "huge_grid": {**base, "config": {**base["config"], "backbone": {**base["config"]["backbone"], "nystrom_grid": 60}}},
        "version": {**base, "version": 99},
    }
    for name, payload in variants.items():
        path = tmp_path / f"{name}.pt"
        torch.save(payload, path)
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        assert "\n" not in str(err.value), name
