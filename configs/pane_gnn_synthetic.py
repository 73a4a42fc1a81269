"""PANE-GNN on the built-in synthetic signed dataset (planted clusters; NOT real data).

Users like items of their own cluster and dislike items of the next one;
ratings 4-5 are likes, 1-2 dislikes. Needs no download.

  python launch/train.py --config=configs/pane_gnn_synthetic.py
  python launch/train.py --config=configs/pane_gnn_synthetic.py:smoke
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None, 'smoke' (seconds), 'reference' (the authors' code), or both."""
  c = config_lib.signed_model(arg, 'pane_gnn', 'synthetic')
  c.lock()
  return c
