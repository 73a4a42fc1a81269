"""LightGCN on KuaiRec's likes (SIGformer's split), evaluated like PANE-GNN.

  python launch/train.py --config=configs/lightgcn_kuairec.py \
      --config.data.path=data/kuairec

How the settings were chosen: LightGCN's paper and code (64-d, 3 layers,
lr 1e-3, batch 2048, L2 1e-4); the stopping rule (evaluation every 5
epochs, patience 4) is the signed configs' one, measured on ML-100K.

MostPop: on this split nothing collaborative beats it, the authors' own
LightGCN loop included (README, "Results on KuaiRec"): test R@20 8.52% (3
seeds) against MostPop's 8.89%. On KuaiRand (--config.data.path=
../shared/data/kuairand --config.data.duplicates=keep_last), where EASE
and UserKNN do, this config does clearly: 12.80% against 9.27%.
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
