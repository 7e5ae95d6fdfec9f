"""Data: dataset specs (QM9, drug-like MOSES), their builders, the token cache (``TokenSet``),
training batches, the molecule ⇄ token mapping and frame fragility. Builds on ``chem``."""

from inertialar.data.batching import bucketed_batches, collate
from inertialar.data.builders import prepare, split_hash
from inertialar.data.specs import DATASETS, MOSES, QM9, DatasetSpec, get_dataset
from inertialar.data.tokenizer import tokenize, tokens_to_molecule
from inertialar.data.tokenset import TokenSet, cache_dir, load_split, train_smiles

__all__ = ["bucketed_batches", "collate", "prepare", "split_hash", "DATASETS", "MOSES", "QM9", "DatasetSpec",
           "get_dataset", "tokenize", "tokens_to_molecule", "TokenSet", "cache_dir", "load_split", "train_smiles"]
