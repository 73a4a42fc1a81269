"""PANE-GNN on MovieLens-1M with the paper's protocol and hyper-parameters.

Ratings > 3.5 are likes, the rest dislikes; five random folds of all
ratings, fold data.fold is the test set, 10% of each user's train ratings
validate; H 64, 4 layers, lr 5e-3, batch 1024, K = 40 negatives by
popularity, lambda_2 0.05, tau 0.8, dropout 0.5, delta 0.5, b 2. Variants
of the paper's Table 4: --config.model.variant=A|B|C|D|full.

  python launch/train.py --config=configs/pane_gnn_ml1m.py \
      --config.data.path=data/ml-1m                  # ratings.dat
  python launch/cross_validate.py --config=configs/pane_gnn_ml1m.py \
      --config.data.path=data/ml-1m --folds=5        # the paper's table
  # SiReN's / PANE-GNN's own fold files test_1m1.dat ... test_1m5.dat:
  python launch/cross_validate.py --config=configs/pane_gnn_ml1m.py \
      --config.data.path=ml-1m --config.data.format=fold_files \
      --config.data.split=given
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'pane_gnn', 'ml-1m')
  c.lock()
  return c
