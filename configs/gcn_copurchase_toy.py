"""Two-layer GCN on the GCN co-purchase article's toy graph (NOT real data).

20 items in categories 0-6, 7-13 and 14-19; an edge within a category with
probability 0.7, across with 0.05 (numpy seed 42, the article's exact graph).
As in the article, every edge trains (no held-out edges), full batches,
hidden 64, output 32, dropout 0.3, Adam lr 0.01, 300 epochs.

  python launch/train.py --config=configs/gcn_copurchase_toy.py
  python launch/recommend.py --workdir=DIR --item=0 --k=5
"""

from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The article's run; 'smoke' (FILE.py:smoke) for a seconds-long check."""
  arg = config_lib.parse_arg(arg, smoke=False)
  c = config_lib.base('gcn_link')
  c.data.item_graph.source = 'toy'
  c.data.val_ratio = 0.0
  c.data.test_ratio = 0.0
  c.model.hidden_dim = 64
  c.model.embed_dim = 32
  c.model.dropout = 0.3
  c.model.use_ids = True
  c.model.neg_ratio = 1
  c.learning_rate = 0.01
  c.batch_size = 0  # Full batch: every edge and its negative in one step.
  c.num_epochs = 300
  c.eval_every_epochs = 50
  c.log_every_epochs = 50
  c.patience = 0
  c.eval_ks = (5, 10)
  c.selection_metric = 'auc'
  if arg.smoke:
    c.num_epochs = 20
    c.eval_every_epochs = 10
    c.log_every_epochs = 10
  c.lock()
  return c
