"""LightGCN on MovieLens-100K under PANE-GNN's protocol (Table 3's baseline).

It trains on the likes (ratings > 3.5) of five random folds of all ratings
with LightGCN's own settings; evaluation masks every train item, liked or
not, as for PANE-GNN and SiReN, so the three compare directly.

  python launch/cross_validate.py --config=configs/lightgcn_ml100k_signed.py \
      --config.data.path=data/ml-100k --folds=5
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'lightgcn', 'ml-100k')
  c.lock()
  return c
