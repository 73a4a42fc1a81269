"""LightGCN on KuaiRec's likes (SIGformer's split), evaluated like PANE-GNN.

  python launch/train.py --config=configs/lightgcn_kuairec.py \
      --config.data.path=data/kuairec
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'lightgcn', 'kuairec')
  c.lock()
  return c
