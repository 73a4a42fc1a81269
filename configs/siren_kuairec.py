"""SiReN on KuaiRec (SIGformer's like / dislike split), K = 1, L2 0.01.

  python launch/train.py --config=configs/siren_kuairec.py \
      --config.data.path=data/kuairec
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.signed_model(arg, 'siren', 'kuairec')
  c.lock()
  return c
