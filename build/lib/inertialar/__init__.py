"""InertialAR: autoregressive 3-D molecule generation in canonical inertial frames (arXiv 2510.27497).

The notebook API (``inertialar.api``), loaded on first use so that ``python -m inertialar --help``
does not import torch::

    import inertialar
    model = inertialar.load()                       # the shipped QM9 checkpoint
    mols = inertialar.sample(model, 10, mode="fast", present=("ether",), seed=0)
    rd = inertialar.to_rdkit(mols[0])               # RDKit molecule with the chemist's bonds
    canon = inertialar.canonicalize(mols[0]).molecule  # canonical order + inertial frame

Layers (``tests/test_layers.py``): files, runtime < chem < data < nn < sampling < training < cli.
"""

__version__ = "0.1.0"
__all__ = ["load", "sample", "to_rdkit", "canonicalize", "Molecule", "Generator"]


def __getattr__(name: str):
    if name in __all__:
        import inertialar.api as api  # lazy: the package root is the top layer

        return getattr(api, name)
    raise AttributeError(f"module 'inertialar' has no attribute {name!r}")
