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

from configs import common
from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The run; variants after ':' (FILE.py:ARG):

  'smoke' (seconds), 'fold=K' (test fold);
  'reference' is accepted and changes nothing (this config already is
  LightGCN's own code).
  """
  arg = config_lib.parse_arg(arg, smoke=False, reference=False, fold=0)
  c = config_lib.base('lightgcn')
  common.signed_protocol(c, 'ml-1m', arg.fold)
  # LightGCN's own paper's settings, on the likes only; lr 1e-3 peaks
  # after 115-300 epochs on ML-100K.
  c.model.embed_dim = 64
  c.model.num_layers = 3
  c.learning_rate = 1e-3
  c.batch_size = 2048
  c.l2_weight = 1e-4
  c.num_epochs = 300
  c.eval_every_epochs = 5
  c.patience = 4
  if arg.smoke:
    common.signed_smoke(c)
  c.lock()
  return c
