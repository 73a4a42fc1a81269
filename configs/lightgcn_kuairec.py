"""LightGCN on KuaiRec's likes (SIGformer's split), evaluated like PANE-GNN.

  python launch/train.py --config=configs/lightgcn_kuairec.py \
      --config.data.path=data/kuairec
"""

from configs import common
from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The run; variants after ':' (FILE.py:ARG):

  'smoke' (seconds);
  'reference' is accepted and changes nothing (this config already is
  LightGCN's own code).
  """
  arg = config_lib.parse_arg(arg, smoke=False, reference=False)
  c = config_lib.base('lightgcn')
  common.signed_protocol(c, 'kuairec')
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
