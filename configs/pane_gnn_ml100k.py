"""PANE-GNN on MovieLens-100K with the paper's ML-1M protocol and settings.

Ratings > 3.5 are likes, the rest dislikes; five random folds of all
ratings; 10% of each fold's train ratings validate. See
configs/pane_gnn_ml1m.py for the hyper-parameters.

  python launch/train.py --config=configs/pane_gnn_ml100k.py \
      --config.data.path=data/ml-100k     # u.data, or RecBole's ml-100k.inter
  python launch/cross_validate.py --config=configs/pane_gnn_ml100k.py \
      --config.data.path=data/ml-100k --folds=5
  python launch/train.py --config=configs/pane_gnn_ml100k.py:smoke \
      --config.data.path=data/ml-100k
  # The authors' code's loss (every switch of config.pane_gnn_reference):
  python launch/cross_validate.py --config=configs/pane_gnn_ml100k.py:reference \
      --config.data.path=data/ml-100k --folds=5
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None, 'smoke' (seconds), 'reference' (the authors' code), or both."""
  c = config_lib.signed_model(arg, 'pane_gnn', 'ml-100k')
  c.lock()
  return c
