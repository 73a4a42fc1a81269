"""The `config.data` schema: every field the data pipeline reads.

jaxrec/config.py's `base()` sets `c.data = default_config()`; the data tests
start from it directly, without the model and training fields.
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


def csv_data() -> ml_collections.ConfigDict:
  """data.format='csv': files with a header row, columns chosen by name.

  The defaults are KuaiRec's raw layout (big_matrix.csv for training, the
  fully observed small_matrix.csv for test; watch_ratio as the rating). With
  data.path a single file, all its rows are split by data.split.
  """
  return ml_collections.ConfigDict(dict(
      user_column='user_id', item_column='video_id',
      rating_column='watch_ratio', time_column='', sep=',',
      train_file='big_matrix.csv', val_file='', test_file='small_matrix.csv'))


def mmrec_data() -> ml_collections.ConfigDict:
  """data.format='mmrec' (enoche/MMRec's folders data/NAME/).

  MMRec's config names (inter_file_name, USER_ID_FIELD, ITEM_ID_FIELD,
  inter_splitting_label, field_separator, vision_feature_file,
  text_feature_file, filter_out_cod_start_users); inter_file '' = NAME.inter.
  """
  return ml_collections.ConfigDict(dict(
      inter_file='', user_column='userID', item_column='itemID',
      split_column='x_label', sep='\t', vision_feature_file='image_feat.npy',
      text_feature_file='text_feat.npy', filter_cold_start_users=True))


def grcn_data() -> ml_collections.ConfigDict:
  """data.format='grcn' (the GRCN/MMGCN folder layout).

  Sizes when they cannot be inferred (0 = infer), and the built-in synthetic
  data used when data.path is empty (jaxrec.data.synthetic_grcn.builtin_grcn:
  built in memory exactly as the layout would hold it, real feature widths).
  """
  return ml_collections.ConfigDict(dict(
      num_users=0, num_items=0, synthetic_preset='movielens',
      synthetic_users=3000, synthetic_items=1500, synthetic_noise=0.0,
      synthetic_seed=0))


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


def default_config() -> ml_collections.ConfigDict:
  """`config.data` with its defaults: built-in synthetic data, ratio split."""
  d = ml_collections.ConfigDict()
  # 'synthetic' (built in), 'auto' (detect from path), 'movielens',
  # 'recbole', 'lightgcn_text', 'triples', 'grcn', 'mmrec', 'fold_files' or
  # 'csv'.
  d.format = 'synthetic'
  d.path = ''
  # Printed when data.path is missing: how to get this dataset.
  d.download_hint = ''
  # Repeated (user, item) pairs: 'error', 'keep_first' or 'keep_last'.
  d.duplicates = 'error'
  # Which interactions are positive (likes): 'all', 'rating' (rating >=
  # min_rating, RecBole's convention), 'threshold' (rating > threshold,
  # SiReN's and PANE-GNN's) or 'label' (label == 1).
  d.positive = 'all'
  d.min_rating = 4.0
  d.threshold = 3.5
  # 'implicit': interactions that are not positive are dropped before
  # splitting. 'signed': they are kept as dislikes (Interactions.liked is
  # False), split with the likes, masked in evaluation, and signed models
  # (PANE-GNN, SiReN) train on them.
  d.feedback = 'implicit'
  # 'given' (the files' own split), 'ratio' (per user) or 'kfold'.
  d.split = 'ratio'
  d.split_order = 'random'  # or 'time': latest interactions to test.
  d.test_ratio = 0.2
  d.num_folds = 5
  d.fold = 0
  # Share of each user's train interactions moved to validation (when the
  # data has no validation split of its own).
  d.val_ratio = 0.1
  d.split_seed = 0
  # data.format='fold_files': one file per fold in data.path, named by this
  # pattern with {} = 1..num_folds (SiReN's and PANE-GNN's ML-1M folds);
  # lines user,item,rating[,timestamp]. Fold data.fold is the test split.
  d.fold_pattern = 'test_1m{}.dat'
  d.csv = csv_data()
  d.synthetic = synthetic_data()
  d.mmrec = mmrec_data()
  d.grcn = grcn_data()
  d.item_graph = item_graph_data()
  return d
