"""The README's notebook example runs as written (the top-level API, ``inertialar.api``)."""

import re
from pathlib import Path

import inertialar

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_notebook_example_runs():
    block = re.search(r"From a notebook.*?```python\n(.*?)```", README.read_text(), re.S).group(1)
    assert len(block.strip().splitlines()) == 5
    scope: dict = {}
    exec(block, scope)  # noqa: S102 — the README's own example is what this test runs
    mols, rdmol, canon = scope["mols"], scope["rdmol"], scope["canon"]
    assert len(mols) == 10 and all(len(m) >= 1 for m in mols)
    assert rdmol.GetNumAtoms() == len(mols[0]) and rdmol.GetNumConformers() == 1
    assert len(canon) == len(mols[0]) and sorted(canon.elements) == sorted(mols[0].elements)


def test_the_package_root_loads_its_api_lazily():
    assert {"load", "sample", "to_rdkit", "canonicalize"} <= set(inertialar.__all__)
    assert callable(inertialar.load) and callable(inertialar.sample)
