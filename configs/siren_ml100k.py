"""SiReN on MovieLens-100K with the PANE-GNN paper's protocol (see siren_ml1m.py).

  python launch/cross_validate.py --config=configs/siren_ml100k.py \
      --config.data.path=data/ml-100k --folds=5
"""

from configs import common
from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The run; variants after ':' (FILE.py:ARG):

  'smoke' (seconds), 'fold=K' (test fold);
  'reference' is accepted and changes nothing (this config already is
  the authors' code).
  """
  arg = config_lib.parse_arg(arg, smoke=False, reference=False, fold=0)
  c = config_lib.base('siren')
  common.signed_protocol(c, 'ml-100k', arg.fold)
  # The papers' settings (H 64, 4 layers, Adam 5e-3, batch 1024, dropout
  # 0.5, b 2, K = 40 negatives by popularity ** 0.75, lambda_2 0.05).
  c.model.embed_dim = 64
  c.model.num_layers = 4
  c.model.dropout = 0.5
  c.model.feedback_coef = 2.0
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
  if arg.smoke:
    common.signed_smoke(c)
  c.lock()
  return c
