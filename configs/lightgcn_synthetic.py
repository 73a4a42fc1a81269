"""LightGCN on the built-in synthetic dataset (planted clusters; NOT real data).

The embedded default: needs no download and trains in well under a minute on
a laptop CPU.

  python launch/train.py --config=configs/lightgcn_synthetic.py
  python launch/train.py --config=configs/lightgcn_synthetic.py:smoke
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The run; 'smoke' (FILE.py:smoke) for a seconds-long check."""
  arg = config_lib.parse_arg(arg, smoke=False)
  c = config_lib.base('lightgcn')
  c.data.format = 'synthetic'
  c.data.positive = 'all'
  c.data.split = 'ratio'
  c.data.test_ratio = 0.2
  c.data.val_ratio = 0.1
  c.model.embed_dim = 64
  c.model.num_layers = 3
  c.learning_rate = 5e-3
  c.batch_size = 1024
  c.l2_weight = 1e-4
  c.num_epochs = 60
  c.eval_every_epochs = 5
  c.patience = 4
  if arg.smoke:
    c.data.synthetic.num_users = 120
    c.data.synthetic.num_items = 80
    c.data.synthetic.num_clusters = 4
    c.data.synthetic.interactions_per_user = 10.0
    c.model.embed_dim = 16
    c.batch_size = 256
    c.num_epochs = 3
    c.eval_every_epochs = 1
  c.lock()
  return c
