"""Numerics: the loss under bf16 autocast matches fp32 (geometry stays fp32), exact vs Nyström kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import tiny_config
from inertialar.chem.frames import canonicalize
from inertialar.chem.molecule import Molecule
from inertialar.data.batching import collate
from inertialar.data.tokenizer import molecule_to_tokens
from inertialar.data.tokenset import TokenSet
from inertialar.nn.checkpoint import load_checkpoint
from inertialar.nn.georope import ExactKernel, NystromFeatures, distance_bias, gaussian_kernel, mix_kernels
from inertialar.nn.model import InertialAR, ModelConfig
from inertialar.training.evaluation import precision_check


def _toy_tokenset(mols: list[Molecule]) -> TokenSet:
    toks = [molecule_to_tokens(canonicalize(m).molecule) for m in mols]
    lengths = np.array([len(t[0]) for t in toks])
    return TokenSet(types=np.concatenate([t[0] for t in toks]).astype(np.int8),
                    coords=np.concatenate([t[1] for t in toks]).astype(np.float32),
                    offsets=np.concatenate([[0], np.cumsum(lengths)]), smiles=np.array([""] * len(mols), dtype=object),
                    groups=np.zeros((len(mols), 19), dtype=bool), index=np.arange(len(mols)))


@pytest.fixture
def toy_set(water, methane, ethanol, benzene) -> TokenSet:
    return _toy_tokenset([water, methane, ethanol, benzene, ethanol])


def test_shipped_checkpoint_loss_agrees_in_bf16_and_fp32(toy_set):
    model, _ = load_checkpoint()
    check = precision_check(model, toy_set, "cpu")
    assert check["rel_diff"] < 0.02, check


@pytest.mark.parametrize("kernel", ["nystrom", "exact", "none"])
def test_fresh_model_loss_agrees_in_bf16_and_fp32(toy_set, kernel):
    torch.manual_seed(0)
    cfg = ModelConfig()  # the default size: the real Nyström factors (8³ landmarks)
    cfg.backbone.distance_kernel = kernel
    check = precision_check(InertialAR(cfg), toy_set, "cpu")
    assert check["rel_diff"] < 0.02, check


def test_nystrom_gram_survives_autocast():
    """The ill-conditioned factor must not run in bf16: Gram error stays at the fp32 level."""
    torch.manual_seed(0)
    nys = NystromFeatures((2.0, 3.0), n_per_axis=8, extent=4.5)
    pos = torch.rand(1, 30, 3) * 6 - 3
    exact = torch.stack([gaussian_kernel(pos[0], pos[0], s) for s in (2.0, 3.0)])  # (S, T, T)
    alpha = torch.eye(2)  # head s reads kernel s
    with torch.autocast("cpu", dtype=torch.bfloat16):
        phi = nys(pos)
        gram = distance_bias(phi, phi, alpha)[0]  # (2, T, T)
    assert phi.dtype == torch.float32 and gram.dtype == torch.float32
    assert (gram - exact).abs().max() < 0.05


def test_exact_kernel_bias_is_the_gaussian_of_distances():
    pos = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0]]])  # (1, 3, 3) Å
    kern = ExactKernel((1.0, 2.0))
    bias = mix_kernels(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), kern.gram(kern(pos), kern(pos)))  # (1, 2, 3, 3)
    assert bias[0, 0, 0, 1] == pytest.approx(np.exp(-0.5))
    assert bias[0, 1, 0, 2] == pytest.approx(np.exp(-4 / 8))
    assert torch.allclose(bias.diagonal(dim1=-2, dim2=-1), torch.ones(1, 2, 3))


@pytest.mark.parametrize("kernel", ["exact", "none"])
def test_cached_steps_match_the_full_forward_for_each_kernel(kernel, ethanol):
    cfg = tiny_config()
    cfg.backbone.distance_kernel = kernel
    torch.manual_seed(0)
    model = InertialAR(cfg).eval()
    for p in model.parameters():  # non-zero α so the distance term matters
        if p.dim() == 2 and p.shape[-1] == len(cfg.backbone.nystrom_sigmas):
            torch.nn.init.normal_(p, std=1.0)
    ts = _toy_tokenset([ethanol])
    b = collate(ts, np.array([0]), "cpu")
    states = torch.zeros(1, 19, dtype=torch.long)
    with torch.no_grad():
        h = torch.cat([model._condition_embedding(states).unsqueeze(1), model._atom_embedding(b["types"], b["coords"])], 1)
        h = h + model.pos_in(torch.arange(h.shape[1]))
        pos = torch.cat([torch.zeros(1, 1, 3), b["coords"]], 1)
        full = model.backbone(h, pos)
        cache = model.new_cache(1)
        steps = [model.condition_step(states, cache)]
        for t in range(b["types"].shape[1]):
            steps.append(model.atom_step(b["types"][:, t], b["coords"][:, t], cache))
    assert torch.allclose(full[0], torch.stack(steps, 1)[0], atol=1e-5)
