"""PANE-GNN on MovieLens-1M with the paper's protocol and hyper-parameters.

Ratings > 3.5 are likes, the rest dislikes; five random folds of all
ratings, fold data.fold is the test set, 10% of each user's train ratings
validate. Where the numbers come from:
  paper (section 4.4): H 64, 4 GNN layers, 2 MLP layers, lr 5e-3, batch
    1024, K = 40 negatives, lambda_2 0.05, tau 0.8, dropout 0.5, delta 0.5,
    b 2 (its recommended range 2-3);
  authors' code: negatives by popularity ** 0.75, edge removal p 0.8;
  jaxrec (the paper gives none): lambda_1 0.1 (1.0 in ':reference', their
    code's weight);
  measured here (ML-100K, 5 folds): validation recall peaks after 35-80
    epochs, so 100 epochs, evaluation every 5, patience 4, instead of the
    paper's 1000 epochs with the best epoch picked on test.
':reference' is the authors' code (config.pane_gnn_reference; README,
Fidelity). Variants of the paper's Table 4: --config.model.variant=A|B|C|D|full.

  python launch/train.py --config=configs/pane_gnn_ml1m.py \
      --config.data.path=data/ml-1m                  # ratings.dat
  python launch/cross_validate.py --config=configs/pane_gnn_ml1m.py \
      --config.data.path=data/ml-1m --folds=5        # the paper's table
  # SiReN's / PANE-GNN's own fold files test_1m1.dat ... test_1m5.dat
  # (the ml-1m folder of their repositories), the authors' code's loss:
  python launch/cross_validate.py --config=configs/pane_gnn_ml1m.py:reference \
      --config.data.path=PaN-GNN/ml-1m --config.data.format=fold_files \
      --config.data.split=given
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None, 'smoke' (seconds), 'reference' (the authors' code), or both."""
  c = config_lib.signed_model(arg, 'pane_gnn', 'ml-1m')
  c.lock()
  return c
