"""GRCN on an MMRec dataset folder (enoche/MMRec: baby, sports, clothing, ...).

  python launch/train.py --config=configs/grcn_mmrec.py \
      --config.data.path=data/baby

data.path is MMRec's folder data/NAME/ with NAME.inter (userID, itemID,
x_label 0/1/2 = train/valid/test), image_feat.npy and text_feat.npy (item
k = row k); the image features are modality 'visual', the text features
'textual'. jaxrec reads the same files MMRec reads (data.format='mmrec').

How the settings were chosen:
  - Model: the GRCN README's (confid weights, 3 routing iterations, soft
    pruning, concat fusion, 64-d), from the paper and the authors' code.
  - Learning rate 1e-3, batch 2048, weight_decay (L2 term) 1e-3: MMRec's
    trainer defaults (overall.yaml: learning_rate 0.001, train_batch_size
    2048) and a value in its GRCN grid (reg_weight 1e-5 ... 0.1). Measured
    here (benchmarks/grcn_mostpop.py, leave-one-out ML-100K in MMRec's
    layout with 6 train items per user, results/grcn_mostpop.json): at the
    README's lr 1e-4, jaxrec's GRCN and MMRec's own GRCN on the same files
    both ended below MostPop (test recall@20 0.069-0.070 against
    0.087-0.089), still rising when 20 epochs without a gain stopped them;
    the learned edge confidences barely leave their initial scale. At 1e-3
    both pass it (jaxrec 0.093, 0.098 in reference mode; MMRec's code
    0.091). On the real data behind the report that led here (two modalities,
    one test item per user), lr 1e-4 stopped at epoch 70 below MostPop and
    1e-3 reached 0.077 recall@20 (published 0.080).
  - Selection and early stopping: MMRec's (valid_metric Recall@20,
    stopping_step 20, evaluation every epoch). With one validation item per
    user, recall@10 is a noisier signal than recall@20.

':reference' is MMRec's GRCN code itself (config_lib.grcn_reference:
hard pruning, its L2 term, Xavier MLP init, no acoustic branch),
benchmarks/parity/grcn.py checks it against MMRec to 1e-5.
"""

from configs import common
from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The run; variants after ':' (FILE.py:ARG):

  'smoke' (seconds), 'reference' (MMRec's GRCN code), or both
  ('reference,smoke').
  """
  arg = config_lib.parse_arg(arg, smoke=False, reference=False)
  c = config_lib.base('grcn')
  common.grcn_layout(c, 'movielens')
  c.data.format = 'mmrec'
  c.data.path = 'data/baby'
  c.data.download_hint = (
      'MMRec\'s datasets (baby, sports, clothing, ...) are linked from '
      'https://github.com/enoche/MMRec (data/README.md); point data.path at '
      'the folder holding NAME.inter, image_feat.npy and text_feat.npy.')
  # The GRCN README's model (see the docstring).
  c.model.embed_dim = 64
  c.model.content_dim = 64
  c.model.has_a = False  # MMRec's folders hold image and text features.
  # MMRec's trainer (see the docstring).
  c.l2_weight = 1e-3
  c.learning_rate = 1e-3
  c.batch_size = 2048
  c.num_epochs = 1000
  c.eval_every_epochs = 1
  c.eval_ks = (10, 20)
  c.selection_metric = 'recall@20'
  c.patience = 20
  if arg.reference:
    common.grcn_reference(c, 'mmrec')
  if arg.smoke:
    common.grcn_smoke(c)
    c.batch_size = 1024
  c.lock()
  return c
