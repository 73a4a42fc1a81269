"""Presets the config files share: data protocols and reference modes.

The numbers a reader wants (learning rate, layers, batch, epochs) stay in
each config file; what lives here is a protocol several files follow (the
signed-feedback papers' data and evaluation, GRCN's data layout and README
trainer) and the switches that make a model compute what its authors' code
computes.
"""

import ml_collections

SIGNED_DATASETS = ('ml-1m', 'ml-100k', 'kuairec', 'synthetic')


def movielens_100k(data: ml_collections.ConfigDict) -> None:
  """Points `config.data` at MovieLens-100K, ratings >= 4 as positives."""
  data.format = 'auto'
  data.path = 'data/ml-100k'
  data.download_hint = (
      'Get MovieLens-100K from https://grouplens.org/datasets/movielens/100k/ '
      '(unzip ml-100k.zip: u.data, u.item), or as RecBole atomic files with '
      'shared/tools/get-ml100k.sh DIR.')
  data.positive = 'rating'
  data.min_rating = 4.0


def signed_protocol(c: ml_collections.ConfigDict, dataset: str,
                    fold: int = 0) -> None:
  """The data protocol of SiReN and PANE-GNN on one of SIGNED_DATASETS.

  MovieLens: every rating is kept; ratings > 3.5 are likes, the others
  dislikes; five random folds of all ratings (fold `fold` is test), with
  10% of each user's train ratings carved out for validation (the papers
  select on test; jaxrec never does). KuaiRec: SIGformer's like / dislike
  labels and given train / valid / test files (or the raw CSVs, watch
  ratio > 2.0, see configs/pane_gnn_kuairec.py). Ground truth: test likes;
  every train item is masked. Metrics at 5, 10, 15 (and 20 on KuaiRec).

  Args:
    c: a config from config.base(); its data and evaluation fields are set.
    dataset: one of SIGNED_DATASETS.
    fold: the test fold (MovieLens).
  """
  if dataset not in SIGNED_DATASETS:
    raise ValueError(f'dataset {dataset!r} is not one of {SIGNED_DATASETS}.')
  d = c.data
  d.feedback = 'signed'
  d.positive = 'threshold'
  d.threshold = 3.5
  d.split = 'kfold'
  d.num_folds = 5
  d.fold = fold
  d.val_ratio = 0.1
  c.eval_ks = (5, 10, 15)
  c.selection_metric = 'recall@10'
  if dataset == 'ml-1m':
    d.format = 'auto'
    d.path = 'data/ml-1m'
    d.download_hint = (
        'Get MovieLens-1M from https://grouplens.org/datasets/movielens/1m/ '
        '(unzip ml-1m.zip: ratings.dat), or point it at the five fold files '
        'of SiReN / PANE-GNN with --config.data.format=fold_files '
        '--config.data.split=given.')
  elif dataset == 'ml-100k':
    movielens_100k(d)
    d.positive = 'threshold'
  elif dataset == 'kuairec':
    d.format = 'triples'
    d.path = 'data/kuairec'
    d.download_hint = (
        'Use the like / dislike split published with SIGformer (folder with '
        'train.txt, valid.txt, test.txt, info.txt), or KuaiRec\'s raw CSVs '
        'from https://kuairec.com with --config.data.format=csv '
        '--config.data.positive=threshold --config.data.val_ratio=0.1.')
    d.positive = 'label'
    d.threshold = 2.0  # For the raw CSVs: like if watch_ratio > 2.0.
    d.split = 'given'
    d.val_ratio = 0.0  # valid.txt is the validation split.
    c.eval_ks = (5, 10, 15, 20)
  else:
    d.format = 'synthetic'
    d.synthetic.dislikes_per_user = 10.0


def signed_smoke(c: ml_collections.ConfigDict) -> None:
  """Shrinks a signed-feedback config to a seconds-long check."""
  c.model.embed_dim = 16
  c.model.num_layers = 2
  c.num_negatives = min(c.num_negatives, 4)
  c.num_epochs = 2
  c.eval_every_epochs = 1
  c.data.synthetic.num_users = 150
  c.data.synthetic.num_items = 100
  c.data.synthetic.num_clusters = 4


def pane_gnn_reference(c: ml_collections.ConfigDict) -> None:
  """PANE-GNN as the authors' code computes it (models/pane_gnn.py).

  Every switch at once: the all-ratings BPR, the MLP on a second table, L2
  on the final embeddings, their sums and means, the one-denominator
  InfoNCE with weight 1, directed edge removal
  (benchmarks/parity/signed.py checks it against their code).
  """
  m = c.model
  m.bpr_ratings = 'all'
  m.mlp_input = 'table'
  m.l2_on = 'final'
  m.loss_reduction = 'code'
  m.info_nce = 'batch_rows'
  m.edge_removal_mode = 'directed'
  m.contrastive_weight = 1.0


def grcn_layout(c: ml_collections.ConfigDict, preset: str) -> None:
  """GRCN's data: the GRCN/MMGCN folder layout, its given split.

  Args:
    c: a GRCN config.
    preset: the built-in synthetic data's feature widths when data.path is
      empty: 'movielens', 'tiktok' or 'kwai'.
  """
  c.data.format = 'grcn'
  c.data.path = ''
  c.data.download_hint = (
      'The GRCN/MMGCN data (Movielens, Tiktok, Kwai) is shared by its owners '
      'on request, see https://github.com/weiyinwei/MMGCN; leave '
      'config.data.path empty for the built-in synthetic data.')
  c.data.split = 'given'
  c.data.val_ratio = 0.0
  c.data.grcn.synthetic_preset = preset
  # The built-in synthetic data: small enough that the README's settings
  # (lr 1e-4, batch 1024) converge in minutes on a laptop CPU.
  c.data.grcn.synthetic_users = 1000
  c.data.grcn.synthetic_items = 500


def grcn_smoke(c: ml_collections.ConfigDict) -> None:
  """Shrinks a GRCN config to a seconds-long check."""
  c.data.grcn.synthetic_users = 200
  c.data.grcn.synthetic_items = 120
  c.model.embed_dim = c.model.content_dim = 16
  c.learning_rate = 1e-3
  c.num_epochs = 2


GRCN_REFERENCES = ('official', 'mmrec')


def grcn_reference(c: ml_collections.ConfigDict, flavour: str) -> None:
  """GRCN as an author's code computes it (benchmarks/parity/grcn.py).

  'official' (weiyinwei/GRCN, the README commands): nn.Linear's default MLP
  init; everything else is already jaxrec's default. 'mmrec'
  (enoche/MMRec's models/grcn.py): hard pruning (its self.pruning = True),
  no acoustic branch, Xavier MLP init, and its L2 term with the whole visual
  preference table. Neither changes evaluation: jaxrec keeps its clean
  forward and -inf masks (see README, Fidelity).

  Args:
    c: a GRCN config.
    flavour: one of GRCN_REFERENCES.
  """
  if flavour not in GRCN_REFERENCES:
    raise ValueError(f'grcn_reference: {flavour!r} is not one of '
                     f'{GRCN_REFERENCES}.')
  c.model.routing = 'official'
  if flavour == 'official':
    c.model.mlp_init = 'torch'
    return
  c.model.hard_pruning = True
  c.model.has_a = False
  c.model.mlp_init = 'xavier'
  c.model.l2_variant = 'mmrec'
