"""The shared config schema; files in configs/ start from `base()`.

Every field a run reads exists here, so a typo in a config file or on the
command line (--config.learnin_rate=...) fails at once instead of being
silently ignored: configs are locked after the file fills them in.
"""

import ml_collections


def synthetic_data() -> ml_collections.ConfigDict:
  """Arguments of jaxrec.data.synthetic.generate."""
  return ml_collections.ConfigDict(dict(
      num_users=600,
      num_items=400,
      num_clusters=6,
      interactions_per_user=25.0,
      in_cluster=0.9,
      noise=0.0,
      feature_dims={},
      feature_noise=1.0,
      dislikes_per_user=0.0,
      seed=0,
  ))


def item_graph_data() -> ml_collections.ConfigDict:
  """How item-item models (co-purchase GCN) build their graph."""
  return ml_collections.ConfigDict(dict(
      # 'toy' (the GCN article's), 'baskets' (CSV at data.path) or
      # 'histories' (items of the same user, from data.format / data.path).
      source='histories',
      # Keep pairs that co-occur at least this often.
      min_count=1,
      # Histories: pair each interaction with the next max_offset ones of the
      # user (0 = all), only within `window` time units (0 = any), keeping
      # each user's latest max_per_user interactions (0 = all).
      max_offset=0,
      window=0.0,
      max_per_user=0,
      baskets=dict(order_column='order_id', item_column='item_id',
                   time_column='', names_path='', name_column='name',
                   # Orders with more items are skipped (0 = keep all).
                   max_basket=100),
      toy=dict(num_items=20, category_size=7, p_in=0.7, p_out=0.05, seed=42),
  ))


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


def base() -> ml_collections.ConfigDict:
  """Defaults shared by every model and dataset."""
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  # 'synthetic' (built in), 'auto' (detect from path), 'movielens',
  # 'recbole', 'lightgcn_text', 'triples', 'grcn', 'mmrec', 'fold_files' or
  # 'csv'.
  c.data.format = 'synthetic'
  c.data.path = ''
  # Printed when data.path is missing: how to get this dataset.
  c.data.download_hint = ''
  # Repeated (user, item) pairs: 'error', 'keep_first' or 'keep_last'.
  c.data.duplicates = 'error'
  # Which interactions are positive (likes): 'all', 'rating' (rating >=
  # min_rating, RecBole's convention), 'threshold' (rating > threshold,
  # SiReN's and PANE-GNN's) or 'label' (label == 1).
  c.data.positive = 'all'
  c.data.min_rating = 4.0
  c.data.threshold = 3.5
  # 'implicit': interactions that are not positive are dropped before
  # splitting. 'signed': they are kept as dislikes (Interactions.liked is
  # False), split with the likes, masked in evaluation, and signed models
  # (PANE-GNN, SiReN) train on them.
  c.data.feedback = 'implicit'
  # 'given' (the files' own split), 'ratio' (per user) or 'kfold'.
  c.data.split = 'ratio'
  c.data.split_order = 'random'  # or 'time': latest interactions to test.
  c.data.test_ratio = 0.2
  c.data.num_folds = 5
  c.data.fold = 0
  # Share of each user's train interactions moved to validation (when the
  # data has no validation split of its own).
  c.data.val_ratio = 0.1
  c.data.split_seed = 0
  # data.format='fold_files': one file per fold in data.path, named by this
  # pattern with {} = 1..num_folds (SiReN's and PANE-GNN's ML-1M folds);
  # lines user,item,rating[,timestamp]. Fold data.fold is the test split.
  c.data.fold_pattern = 'test_1m{}.dat'
  # data.format='csv': files with a header row; the defaults are KuaiRec's
  # raw layout (big_matrix.csv for training, the fully observed
  # small_matrix.csv for test; watch_ratio as the rating). With data.path a
  # single file, all its rows are split by data.split.
  c.data.csv = ml_collections.ConfigDict(dict(
      user_column='user_id', item_column='video_id',
      rating_column='watch_ratio', time_column='', sep=',',
      train_file='big_matrix.csv', val_file='', test_file='small_matrix.csv'))
  c.data.synthetic = synthetic_data()
  # data.format='mmrec' (enoche/MMRec's folders data/NAME/): MMRec's config
  # names (inter_file_name, USER_ID_FIELD, ITEM_ID_FIELD,
  # inter_splitting_label, field_separator, vision_feature_file,
  # text_feature_file, filter_out_cod_start_users); inter_file '' = NAME.inter.
  c.data.mmrec = ml_collections.ConfigDict(dict(
      inter_file='', user_column='userID', item_column='itemID',
      split_column='x_label', sep='\t', vision_feature_file='image_feat.npy',
      text_feature_file='text_feat.npy', filter_cold_start_users=True))
  # data.format='grcn' (the GRCN/MMGCN folder layout): sizes when they
  # cannot be inferred (0 = infer), and the built-in synthetic data used
  # when data.path is empty (written in the same layout, real widths).
  c.data.grcn = ml_collections.ConfigDict(dict(
      num_users=0, num_items=0, synthetic_preset='movielens',
      synthetic_users=3000, synthetic_items=1500, synthetic_noise=0.0,
      synthetic_seed=0))
  c.data.item_graph = item_graph_data()

  c.model = ml_collections.ConfigDict()
  c.model.name = 'lightgcn'
  c.model.embed_dim = 64
  c.model.num_layers = 3
  # Propagation kernel: 'auto' (fastest measured for the backend), 'csr'
  # or 'segment_sum'.
  c.model.propagation = 'auto'
  # Item-item GCN: hidden width (embed_dim is the output width), dropout,
  # inputs (one-hot ids and/or item feature modalities), GCN edge weights
  # from co-occurrence counts, negatives per positive edge.
  c.model.hidden_dim = 64
  c.model.dropout = 0.3
  c.model.use_ids = True
  c.model.features = ()
  c.model.weighted_edges = False
  c.model.neg_ratio = 1
  # How item-item models rank: 'cosine' (the GCN article's) or 'dot'.
  c.model.similarity = 'cosine'
  # GRCN (names as in the authors' command line where they exist):
  # modalities, content width (dim_C; embed_dim is dim_E), routing
  # ('official' = the authors' code, a no-op; 'paper' = refine preferences),
  # weight_mode (mean / max / confid), fusion_mode (concat / mean / id),
  # hard_pruning (is_pruning), edge_dropout (dropout), has_act, has_norm.
  c.model.has_v = True
  c.model.has_a = True
  c.model.has_t = True
  # Explicit modality names (any item features of the data, e.g. 'genre');
  # when set, they replace has_v / has_a / has_t.
  c.model.modalities = ()
  c.model.content_dim = 64
  c.model.num_routing = 3
  c.model.routing = 'official'
  c.model.weight_mode = 'confid'
  c.model.fusion_mode = 'concat'
  c.model.hard_pruning = False
  c.model.edge_dropout = 0.0
  c.model.has_act = False
  c.model.has_norm = True
  # GRCN's content MLP init ('lecun', 'torch' = the official code, 'xavier'
  # = MMRec) and L2 term ('official', or 'mmrec' with MMRec's extra term);
  # see jaxrec/models/grcn.py.
  c.model.mlp_init = 'lecun'
  c.model.l2_variant = 'official'
  # PANE-GNN and SiReN (signed feedback; the dropout above is the MLP and
  # attention dropout): variant (PANE-GNN's ablations 'A', 'B', 'C', 'D' or
  # 'full'), feedback-aware coefficient b of the dual BPR (SiReN: the
  # coefficient of a disliked item's score), share p of negative-graph edges
  # removed for the contrastive view, contrastive weight lambda_1 and
  # temperature tau, disinterest filter threshold delta.
  c.model.variant = 'full'
  # PANE-GNN's dual BPR: 'own_graph' (eq. 17: likes train the interest
  # space, dislikes the disinterest space) or 'all' (the authors' code:
  # every rating trains both, see models/pane_gnn.py).
  c.model.bpr_ratings = 'own_graph'
  # PANE-GNN's MLP branch input: 'z0' (eq. 7) or 'table' (the authors' code:
  # a second embedding table, as in SiReN).
  c.model.mlp_input = 'z0'
  # The rest of PANE-GNN's reference mode (see pane_gnn_reference): L2 on
  # 'layer0' (eq. 16) or 'final' embeddings; loss_reduction 'mean' or 'code'
  # (their sums and means); info_nce 'distinct' (eq. 18) or 'batch_rows'
  # (their one denominator); edge_removal_mode 'undirected' or 'directed'.
  c.model.l2_on = 'layer0'
  c.model.loss_reduction = 'mean'
  c.model.info_nce = 'distinct'
  c.model.edge_removal_mode = 'undirected'
  c.model.feedback_coef = 2.0
  c.model.edge_removal = 0.8
  c.model.contrastive_weight = 0.1
  c.model.temperature = 0.8
  c.model.filter_threshold = 0.5

  c.learning_rate = 1e-3
  # Global batch, split across devices (must be divisible by their number);
  # 0 = the whole epoch in one batch.
  c.batch_size = 2048
  c.num_epochs = 200
  # L2 on the batch's layer-0 embeddings (LightGCN's reg, a.k.a. decay).
  c.l2_weight = 1e-4
  # Sampled negatives per training interaction (signed models: K, drawn with
  # replacement from the items the user has not rated in train), and how:
  # 'uniform' or 'popularity' (train count ** negative_power).
  c.num_negatives = 1
  c.negative_sampling = 'uniform'
  c.negative_power = 0.75
  # 0 = all local devices.
  c.num_devices = 0

  c.eval_every_epochs = 5
  # Log (and write to metrics.jsonl) the training loss every this many epochs.
  c.log_every_epochs = 1
  c.eval_ks = (10, 20)
  c.eval_chunk_size = 256
  # Model selection and early stopping on this validation metric.
  c.selection_metric = 'recall@20'
  # Also evaluate test at every evaluation, logged next to validation
  # (test/* in the epoch's metrics.jsonl record) for the papers' protocol
  # (best test epoch, launch/cv_table.py); never used for selection or early
  # stopping. One more evaluation: 0.05 s against a 13 s epoch (KuaiRec).
  c.log_test_every_eval = True
  # Stop after this many evaluations without improvement (0 = never).
  c.patience = 10
  return c


def grcn(arg: str | None, preset: str) -> ml_collections.ConfigDict:
  """What all GRCN configs share: the authors' defaults, the GRCN data layout.

  Args:
    arg: None, or 'smoke' for a seconds-long run.
    preset: the built-in synthetic data's feature widths when data.path is
      empty: 'movielens', 'tiktok' or 'kwai'.
  """
  c = base()
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
  c.model.name = 'grcn'
  c.model.embed_dim = 64  # dim_E
  c.model.content_dim = 64  # dim_C
  c.model.num_routing = 3
  c.model.routing = 'official'
  c.model.weight_mode = 'confid'
  c.model.fusion_mode = 'concat'
  c.model.hard_pruning = False  # --is_pruning=False in every README command
  c.model.edge_dropout = 0.0
  c.model.has_act = False
  c.model.has_norm = True
  c.learning_rate = 1e-4
  c.batch_size = 1024
  c.num_epochs = 1000
  c.eval_every_epochs = 1
  c.eval_ks = (10,)
  c.selection_metric = 'recall@10'
  c.patience = 20
  if arg == 'smoke':
    c.data.grcn.synthetic_users = 200
    c.data.grcn.synthetic_items = 120
    c.model.embed_dim = c.model.content_dim = 16
    c.learning_rate = 1e-3
    c.num_epochs = 2
  elif arg:
    raise ValueError(f"Unknown config variant {arg!r}; use ':smoke' or none.")
  return c


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


SIGNED_DATASETS = ('ml-1m', 'ml-100k', 'kuairec', 'synthetic')


def signed_protocol(c: ml_collections.ConfigDict, dataset: str) -> None:
  """The data protocol of SiReN and PANE-GNN on one of SIGNED_DATASETS.

  MovieLens: every rating is kept; ratings > 3.5 are likes, the others
  dislikes; five random folds of all ratings (fold data.fold is test), with
  10% of each user's train ratings carved out for validation (the papers
  select on test; jaxrec never does). KuaiRec: SIGformer's like / dislike
  labels and given train / valid / test files (or the raw CSVs, watch
  ratio > 2.0, see configs/pane_gnn_kuairec.py). Ground truth: test likes;
  every train item is masked. Metrics at 5, 10, 15 (and 20 on KuaiRec).

  Args:
    c: a config from base(); its data and evaluation fields are set.
    dataset: one of SIGNED_DATASETS.
  """
  if dataset not in SIGNED_DATASETS:
    raise ValueError(f'dataset {dataset!r} is not one of {SIGNED_DATASETS}.')
  d = c.data
  d.feedback = 'signed'
  d.positive = 'threshold'
  d.threshold = 3.5
  d.split = 'kfold'
  d.num_folds = 5
  d.fold = 0
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


def signed_model(arg: str | None, model: str,
                 dataset: str) -> ml_collections.ConfigDict:
  """PANE-GNN, SiReN or LightGCN with the papers' settings on signed data.

  PANE-GNN and SiReN: H 64, 4 layers, Adam 5e-3, batch 1024, dropout 0.5,
  b 2; K = 40 negatives by popularity ** 0.75 and lambda_2 0.05 on
  MovieLens, K = 1 uniform and lambda_2 0.01 on KuaiRec. PANE-GNN also:
  tau 0.8, delta 0.5, p 0.8 (the authors' code). LightGCN trains on the
  likes only with its own paper's settings (3 layers, 1e-3, batch 2048,
  one uniform negative, L2 1e-4) and is evaluated by the same protocol.

  Args:
    arg: None; 'smoke' for a seconds-long run; 'reference' for the authors'
      code (pane_gnn_reference); or 'reference,smoke'.
    model: 'pane_gnn', 'siren' or 'lightgcn'.
    dataset: one of SIGNED_DATASETS (see signed_protocol).
  """
  c = base()
  signed_protocol(c, dataset)
  c.model.name = model
  c.model.embed_dim = 64
  kuairec = dataset == 'kuairec'
  if model == 'lightgcn':
    c.model.num_layers = 3
    c.learning_rate = 1e-3
    c.batch_size = 2048
    c.l2_weight = 1e-4
  elif model in ('pane_gnn', 'siren'):
    c.model.num_layers = 4
    c.model.dropout = 0.5
    c.model.feedback_coef = 2.0
    c.learning_rate = 5e-3
    c.batch_size = 1024
    c.l2_weight = 0.01 if kuairec else 0.05
    c.num_negatives = 1 if kuairec else 40
    c.negative_sampling = 'uniform' if kuairec else 'popularity'
  else:
    raise ValueError(f'signed_model: unknown model {model!r}.')
  # Measured on ML-100K's five folds: PANE-GNN's and SiReN's validation
  # recall peaks after 35-80 epochs (the papers train 1000); early stopping
  # ends a run 20 epochs after its best. ML-1M caps at 100 epochs (about 80
  # s each on 2 CPU cores).
  c.num_epochs = 100 if dataset == 'ml-1m' else 300
  if model == 'lightgcn':
    c.num_epochs *= 3  # lr 1e-3: it peaks after 115-300 epochs on ML-100K.
  c.eval_every_epochs = 5
  c.patience = 4
  words = variant_words(arg)
  if 'reference' in words and model == 'pane_gnn':
    pane_gnn_reference(c)
  if 'smoke' in words:
    c.model.embed_dim = 16
    c.model.num_layers = 2
    c.num_negatives = min(c.num_negatives, 4)
    c.num_epochs = 2
    c.eval_every_epochs = 1
    c.data.synthetic.num_users = 150
    c.data.synthetic.num_items = 100
    c.data.synthetic.num_clusters = 4
  return c


def variant_words(arg: str | None) -> set[str]:
  """The words of a config variant ('smoke', 'reference', 'reference,smoke').

  Raises:
    ValueError: a word other than 'smoke' or 'reference'.
  """
  words = set(arg.split(',')) if arg else set()
  if words - {'smoke', 'reference'}:
    raise ValueError(f"Unknown config variant {arg!r}; use ':smoke', "
                     f"':reference', ':reference,smoke' or none.")
  return words


def pane_gnn_reference(c: ml_collections.ConfigDict) -> None:
  """PANE-GNN as the authors' code computes it (models/pane_gnn.py).

  Every switch at once: the all-ratings BPR, the MLP on a second table, L2
  on the final embeddings, their sums and means, the one-denominator
  InfoNCE with weight 1, directed edge removal. SiReN's and LightGCN's
  signed configs already follow their authors' code, so ':reference' leaves
  them unchanged.
  """
  m = c.model
  m.bpr_ratings = 'all'
  m.mlp_input = 'table'
  m.l2_on = 'final'
  m.loss_reduction = 'code'
  m.info_nce = 'batch_rows'
  m.edge_removal_mode = 'directed'
  m.contrastive_weight = 1.0


def from_saved(saved: dict) -> ml_collections.ConfigDict:
  """A run's saved config (config.json) on top of today's defaults.

  Fields added since the run was saved keep their defaults, so old runs
  still evaluate; JSON lists become tuples where the default is a tuple.
  """
  config = base()
  _merge(config, saved)
  return config


def _merge(config: ml_collections.ConfigDict, saved: dict) -> None:
  for key, value in saved.items():
    current = config.get(key)
    if isinstance(current, ml_collections.ConfigDict) and isinstance(value,
                                                                     dict):
      _merge(current, value)
    elif isinstance(current, tuple) and isinstance(value, list):
      config[key] = tuple(value)
    else:
      config[key] = value
