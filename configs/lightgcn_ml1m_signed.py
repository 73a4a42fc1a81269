"""LightGCN on MovieLens-1M under PANE-GNN's protocol (Table 3's baseline).

Likes (ratings > 3.5) of five folds of all ratings, LightGCN's own settings
(3 layers, lr 1e-3, batch 2048, one uniform negative, L2 1e-4: its paper);
300 epochs, evaluation every 5, patience 4 (measured on ML-100K: it peaks
after 115-300 epochs at lr 1e-3). Evaluation masks every train item, liked
or not, as for PANE-GNN and SiReN.

  python launch/cross_validate.py --config=configs/lightgcn_ml1m_signed.py \
      --config.data.path=data/ml-1m --folds=5
  # The authors' fold files (test_1m1.dat ... test_1m5.dat):
  python launch/cross_validate.py --config=configs/lightgcn_ml1m_signed.py \
      --config.data.path=PaN-GNN/ml-1m --config.data.format=fold_files \
      --config.data.split=given
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'lightgcn', 'ml-1m')
  c.lock()
  return c
