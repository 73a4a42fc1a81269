"""LightGCN on MovieLens-100K: ratings >= 4 are positives, 80/20 per-user
split, 10% of each user's train interactions carved out for validation.

  python launch/train.py --config=configs/lightgcn_ml100k.py \
      --config.data.path=data/ml-100k
  python launch/train.py --config=configs/lightgcn_ml100k.py:smoke \
      --config.data.path=data/ml-100k

data.path may hold GroupLens's files (u.data, u.item) or RecBole's atomic
files (ml-100k.inter, ml-100k.item); the format is detected.
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """arg: None for the full run, 'smoke' for a seconds-long check."""
  c = config_lib.base()
  config_lib.movielens_100k(c.data)
  c.data.split = 'ratio'
  c.data.test_ratio = 0.2
  c.data.val_ratio = 0.1
  c.model.name = 'lightgcn'
  c.model.embed_dim = 64
  c.model.num_layers = 3
  c.learning_rate = 1e-3
  c.batch_size = 2048
  c.l2_weight = 1e-4
  c.num_epochs = 400
  c.eval_every_epochs = 5
  c.patience = 10
  if arg == 'smoke':
    c.model.embed_dim = 16
    c.num_epochs = 2
    c.eval_every_epochs = 1
  elif arg:
    raise ValueError(f"Unknown config variant {arg!r}; use ':smoke' or none.")
  c.lock()
  return c
