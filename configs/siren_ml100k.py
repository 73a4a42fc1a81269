"""SiReN on MovieLens-100K with the PANE-GNN paper's protocol (see siren_ml1m.py).

  python launch/cross_validate.py --config=configs/siren_ml100k.py \
      --config.data.path=data/ml-100k --folds=5
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'siren', 'ml-100k')
  c.lock()
  return c
