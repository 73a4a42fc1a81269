"""SiReN on MovieLens-1M: the baseline of PANE-GNN's Table 3, same protocol.

H 64, 4 layers, lr 5e-3, batch 1024, K = 40 negatives by popularity,
L2 0.05 on the batch's final embeddings, dropout 0.5, a disliked item's
score weighted 2 in the sign-aware BPR (the authors' code).

  python launch/cross_validate.py --config=configs/siren_ml1m.py \
      --config.data.path=data/ml-1m --folds=5
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'siren', 'ml-1m')
  c.lock()
  return c
