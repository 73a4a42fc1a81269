"""LightGCN on MovieLens-100K under PANE-GNN's protocol (Table 3's baseline).

It trains on the likes (ratings > 3.5) of five random folds of all ratings
with LightGCN's own settings; evaluation masks every train item, liked or
not, as for PANE-GNN and SiReN, so the three compare directly.

  python launch/cross_validate.py --config=configs/lightgcn_ml100k_signed.py \
      --config.data.path=data/ml-100k --folds=5
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
  common.signed_protocol(c, 'ml-100k', arg.fold)
  # LightGCN's own paper's settings, on the likes only; lr 1e-3 peaks
  # after 115-300 epochs on ML-100K.
  c.model.embed_dim = 64
  c.model.num_layers = 3
  c.learning_rate = 1e-3
  c.batch_size = 2048
  c.l2_weight = 1e-4
  c.num_epochs = 900
  c.eval_every_epochs = 5
  c.patience = 4
  if arg.smoke:
    common.signed_smoke(c)
  c.lock()
  return c
