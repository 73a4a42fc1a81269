"""PANE-GNN on MovieLens-100K with the paper's ML-1M protocol and settings.

Ratings > 3.5 are likes, the rest dislikes; five random folds of all
ratings; 10% of each fold's train ratings validate. See
configs/pane_gnn_ml1m.py for the hyper-parameters.

  python launch/train.py --config=configs/pane_gnn_ml100k.py \
      --config.data.path=data/ml-100k     # u.data, or RecBole's ml-100k.inter
  python launch/cross_validate.py --config=configs/pane_gnn_ml100k.py \
      --config.data.path=data/ml-100k --folds=5
  python launch/train.py --config=configs/pane_gnn_ml100k.py:smoke \
      --config.data.path=data/ml-100k
  # The authors' code's loss (every switch of config.pane_gnn_reference):
  python launch/cross_validate.py --config=configs/pane_gnn_ml100k.py:reference \
      --config.data.path=data/ml-100k --folds=5
"""

from configs import common
from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The run; variants after ':' (FILE.py:ARG):

  'smoke' (seconds), 'reference' (the authors' code),
  'variant=A'..'D' (Table 4 ablations), 'fold=K' (test fold);
  comma-separated, e.g. 'reference,variant=B,fold=2'.
  """
  arg = config_lib.parse_arg(arg, smoke=False, reference=False,
                             variant='full', fold=0)
  c = config_lib.base('pane_gnn')
  common.signed_protocol(c, 'ml-100k', arg.fold)
  # The papers' settings (H 64, 4 layers, Adam 5e-3, batch 1024, dropout
  # 0.5, b 2, K = 40 negatives by popularity ** 0.75, lambda_2 0.05).
  c.model.embed_dim = 64
  c.model.num_layers = 4
  c.model.dropout = 0.5
  c.model.feedback_coef = 2.0
  c.model.variant = arg.variant
  # PANE-GNN's own: tau 0.8, delta 0.5, p 0.8 (the authors' code).
  c.model.temperature = 0.8
  c.model.filter_threshold = 0.5
  c.model.edge_removal = 0.8
  c.learning_rate = 5e-3
  c.batch_size = 1024
  c.l2_weight = 0.05
  c.num_negatives = 40
  c.negative_sampling = 'popularity'
  # Measured on ML-100K's five folds: validation recall peaks after 35-80
  # epochs (the papers train 1000); early stopping ends a run 20 epochs
  # after its best.
  c.num_epochs = 300
  c.eval_every_epochs = 5
  c.patience = 4
  if arg.reference:
    common.pane_gnn_reference(c)
  if arg.smoke:
    common.signed_smoke(c)
  c.lock()
  return c
