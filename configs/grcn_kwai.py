"""GRCN on Kwai (the GRCN/MMGCN data layout), visual features only, the GRCN
README's command:

  python main.py --l_r=0.0001 --weight_decay=0.1 --dropout=0 \
      --weight_mode=confid --num_routing=3 --is_pruning=False \
      --data_path=Kwai --has_a=False --has_t=False

as a jaxrec run:

  python launch/train.py --config=configs/grcn_kwai.py \
      --config.data.path=Data/Kwai

data.path holds train.npy, val_full.npy, test_full.npy and feat_v (2048-d,
.npy or .pt). With data.path empty the run uses built-in SYNTHETIC data with
Kwai's width (2048, visual only).

How the settings were chosen: every hyper-parameter above is the GRCN
README's command (paper / authors' code; batch 1024, 64-d, 3 routing
iterations). Stopping rule: the authors' code stops after 20 epochs without
a gain in TEST recall@10; jaxrec keeps 20 evaluations (one per epoch) but on
validation recall@10. Measured here (benchmarks/grcn_mostpop.py): at lr 1e-4
GRCN warms up slowly: on leave-one-out ML-100K with
57 train items per user it passed MostPop after ~30 epochs, with 6 per user
it was still below MostPop when this rule stopped it (epoch 142), as was
MMRec's own GRCN under MMRec's rule (epoch 202).
On sparse data (few interactions per user, e.g. MMRec's Amazon sets) use
configs/grcn_mmrec.py (lr 1e-3) or a larger --config.patience.
"""

from configs import common
from jaxrec import config as config_lib


def get_config(arg: str | None = None):
  """The README's run; 'smoke' (FILE.py:smoke) for a seconds-long check."""
  arg = config_lib.parse_arg(arg, smoke=False)
  c = config_lib.base('grcn')
  common.grcn_layout(c, 'kwai')
  # The README's model: dim_E = dim_C = 64, confid weights, 3 routing
  # iterations, concat fusion, soft pruning (--is_pruning=False).
  c.model.embed_dim = 64
  c.model.content_dim = 64
  c.model.weight_mode = 'confid'
  c.model.num_routing = 3
  c.model.fusion_mode = 'concat'
  c.model.hard_pruning = False
  c.model.has_a = False  # Kwai has visual features only.
  c.model.has_t = False
  c.l2_weight = 0.1  # --weight_decay=0.1
  # The GRCN README's trainer: --lr=0.0001 --batch_size=1024, 1000 epochs,
  # evaluation every epoch on recall@10, 20 evaluations of patience.
  c.learning_rate = 1e-4
  c.batch_size = 1024
  c.num_epochs = 1000
  c.eval_every_epochs = 1
  c.eval_ks = (10,)
  c.selection_metric = 'recall@10'
  c.patience = 20
  if arg.smoke:
    common.grcn_smoke(c)
  c.lock()
  return c
