"""PANE-GNN on KuaiRec: K = 1 uniform negative, lambda_2 0.01 (the paper's).

By default data.path is SIGformer's like / dislike split (train.txt,
valid.txt, test.txt with 'user item label' lines). KuaiRec's raw CSVs
(big_matrix.csv for training, the fully observed small_matrix.csv for test,
like if watch_ratio > 2.0) need three more flags, see below.

  python launch/train.py --config=configs/pane_gnn_kuairec.py \
      --config.data.path=data/kuairec
  python launch/cross_validate.py --config=configs/pane_gnn_kuairec.py \
      --config.data.path=data/kuairec --seeds=5
  python launch/train.py --config=configs/pane_gnn_kuairec.py \
      --config.data.path=KuaiRec/data --config.data.format=csv \
      --config.data.positive=threshold --config.data.val_ratio=0.1
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None, 'smoke' (seconds), 'reference' (the authors' code), or both."""
  c = config_lib.signed_model(arg, 'pane_gnn', 'kuairec')
  c.lock()
  return c
