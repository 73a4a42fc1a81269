"""Level-2 parity: the authors' evaluation code against jaxrec's, same scores.

  python benchmarks/parity/evaluation.py \
      --pane_reference=PATH/PaN-GNN --siren_reference=PATH/SiReN \
      --lightgcn_reference=PATH/LightGCN-PyTorch --grcn_reference=PATH/GRCN \
      --mmrec_reference=PATH/MMRec [--<name>_reference_commit=SHA ...]

Every evaluator gets the same seeded ratings (users x items, ratings 1-5,
80/20 per user, a few items never rated) and the same score matrix, and
reports P/R/nDCG@10 and @20 in percent next to jaxrec's (jaxrec.metrics with
jaxrec.tasks.user_item's ground truth and masking). Three score matrices
(see score_cases): random, informative (metrics at a trained model's
level), and informative minus 3, because GRCN masks train items with 1e-5
rather than -inf, which matters only when scores are negative.

- PANE-GNN / SiReN (signed feedback): their util.gen_top_k masks train
  ratings and never-rated items, evaluator.evaluator takes test ratings >= 4
  as truth; jaxrec gets the ratings as likes (>= 4) and dislikes. Also run
  with the never-rated items dropped, as jaxrec's loaders do (ids are
  remapped over the rated items).
- LightGCN-PyTorch, GRCN, MMRec (implicit feedback: the likes only; test
  users without a train like dropped, as MMRec's loader requires):
  Procedure.Test, Model_routing.Net.full_accuracy and
  common.trainer.Trainer.evaluate with utils.topk_evaluator.TopKEvaluator,
  each called on a stand-in model / data object that returns the score
  matrix.

Any reference may be left out; without torch, or with none usable, prints
SKIPPED and exits 0.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import types
import warnings

from absl import app
from absl import flags
from absl import logging
import numpy as np

import common  # pylint: disable=g-bad-import-order
import shims

# name -> (marker file, folder of their modules, repository, what is called)
REFERENCES = {
    'pane_gnn': ('pnegnn.py', '', "PANE-GNN authors' code (PaN-GNN)",
                 'util.gen_top_k (no disinterest filter) + '
                 'evaluator.evaluator.precision_and_recall / normalized_DCG'),
    'siren': ('siren.py', '', 'SiReN authors\' code (SiReN-reco)',
              'util.gen_top_k + evaluator.evaluator.precision_and_recall / '
              'normalized_DCG'),
    'lightgcn': ('code/Procedure.py', 'code', 'gusye1234/LightGCN-PyTorch',
                 'Procedure.Test (mask -(1<<10), utils.RecallPrecision_ATk, '
                 'utils.NDCGatK_r) on a stand-in model returning the scores '
                 '(their getUsersRating adds a sigmoid: rank-preserving '
                 'except for float32 saturation ties above ~16.6)'),
    'grcn': ('Model_routing.py', '', 'weiyinwei/GRCN',
             'Model_routing.Net.full_accuracy (what Full_vt.full_vt calls) '
             'on a stand-in Net, step=num_users (with its default '
             'step=2000 and fewer than 2000 users its loop ranks no user)'),
    'mmrec': ('src/utils/topk_evaluator.py', 'src', 'enoche/MMRec',
              'common.trainer.Trainer.evaluate (mask -1e10) + '
              'utils.topk_evaluator.TopKEvaluator + utils.metrics, with '
              'utils.dataloader.EvalDataLoader on stand-in datasets'),
}
# Flags are --pane_reference, --siren_reference, ... (and *_commit).
_FLAG = {n: n.split('_')[0] for n in REFERENCES}
_PATHS = {n: flags.DEFINE_string(f'{_FLAG[n]}_reference', None,
                                 f'Checkout of {r[2]} (holds {r[0]}).')
          for n, r in REFERENCES.items()}
_COMMITS = {n: flags.DEFINE_string(f'{_FLAG[n]}_reference_commit', None,
                                   f'Commit of --{_FLAG[n]}_reference.')
            for n in REFERENCES}
_OUT = flags.DEFINE_string('out', common.RESULTS, 'Parity JSON to merge into.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of ratings and scores.')
_USERS = flags.DEFINE_integer('num_users', 200, 'Users.')
_ITEMS = flags.DEFINE_integer('num_items', 300, 'Items.')
_UNRATED = flags.DEFINE_integer('never_rated', 10,
                                'Items no one rates (the last ones).')
KS = (10, 20)
METRICS = ('precision', 'recall', 'ndcg')
LIKE = 4  # PANE-GNN's / SiReN's evaluator: truth = test rating >= 4.

EXPLANATIONS = {
    'pane_gnn': {
        'never_rated': 'util.gen_top_k (r_hat[:, no_items] = -np.inf) also '
                       'masks items rated by no one in train or test; jaxrec '
                       'ranks every column it is given, but its loaders '
                       'remap ids over the rated items, so such items never '
                       'exist there (the *_remapped rows: 0 difference).',
    },
    'lightgcn': {},
    'grcn': {
        'idcg': 'Model_routing.py full_accuracy takes IDCG over min(num_hit, '
                'topk) (line 347), not min(|truth|, K): a user with any hit '
                'gets nDCG relative to its own hits, so nDCG is inflated.',
        'mask': 'train items are set to 1e-5 (line 314), not -inf: they '
                'outrank every item whose score is below 1e-5, and a '
                'recommended train item is a miss.',
    },
    'mmrec': {
        'round': 'TopKEvaluator.evaluate rounds every metric to 4 decimals '
                 '(topk_evaluator.py line 101): up to 0.005 points.',
    },
}
EXPLANATIONS['siren'] = EXPLANATIONS['pane_gnn']


def make_data(seed: int, num_users: int, num_items: int, never_rated: int):
  """Seeded ratings and a score matrix.

  Returns:
    (ratings, scores): ratings is a dict of int arrays 'user', 'item',
    'rating' (1-5) and bool 'test'; scores float32 [U, I] standard normal.
  """
  rng = np.random.default_rng(seed)
  cols = {'user': [], 'item': [], 'rating': [], 'test': []}
  for u in range(num_users):
    n = int(rng.integers(10, 41))
    test = rng.random(n) < 0.2
    test[0] = False  # Every user has a train rating.
    cols['user'].append(np.full(n, u))
    cols['item'].append(rng.choice(num_items - never_rated, n, replace=False))
    cols['rating'].append(rng.integers(1, 6, n))
    cols['test'].append(test)
  ratings = {k: np.concatenate(v) for k, v in cols.items()}
  scores = rng.standard_normal((num_users, num_items)).astype(np.float32)
  return ratings, scores


def score_cases(ratings, noise: np.ndarray) -> dict[str, np.ndarray]:
  """The score matrices every evaluator ranks.

  'random': standard normal noise, metrics near chance. 'informative':
  noise + 1 on every rated (user, item) + 1 more on likes, so metrics reach
  the levels of a trained model. 'informative_shifted': the same minus 3,
  mostly negative scores (the case where a 1e-5 mask is not -inf).
  """
  informative = noise.copy()
  np.add.at(informative, (ratings['user'], ratings['item']),
            1.0 + (ratings['rating'] >= LIKE))
  return {'random': noise, 'informative': informative,
          'informative_shifted': informative - 3.0}


def implicit(ratings):
  """The likes; test users without a train like lose their test likes."""
  like = ratings['rating'] >= LIKE
  has_train = np.zeros(ratings['user'].max() + 1, bool)
  has_train[ratings['user'][like & ~ratings['test']]] = True
  keep = like & has_train[ratings['user']]
  return {k: v[keep] for k, v in ratings.items()}


def per_user(ratings, test: bool, num_users: int):
  """Item arrays per user of the train (test=False) or test rows."""
  sel = ratings['test'] == test
  return [np.sort(ratings['item'][sel & (ratings['user'] == u)])
          for u in range(num_users)]


# --- jaxrec ----------------------------------------------------------------


def _rows(scores, users):
  return scores[users]


def jaxrec_metrics(ratings, scores, signed: bool, items=None):
  """jaxrec's test metrics in percent: user_item.truth / exclude + metrics.

  Args:
    ratings: see make_data (signed) or implicit() (likes only).
    scores: float32 [U, I].
    signed: keep dislikes (masked like any rated train item) and take the
      likes as truth, as for PANE-GNN; else every row is a like.
    items: the columns jaxrec knows (None: all), i.e. its id remapping.
  """
  # jaxrec (and JAX) are imported only once torch and a checkout are
  # there, so that a skipped run returns in half a second.
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from jaxrec import metrics  # pylint: disable=g-import-not-at-top
  from jaxrec.data import dataset  # pylint: disable=g-import-not-at-top
  from jaxrec.tasks import user_item  # pylint: disable=g-import-not-at-top

  num_users, num_items = scores.shape
  item_map = np.arange(num_items)
  if items is not None:
    scores = scores[:, items]
    item_map = np.full(num_items, -1)
    item_map[items] = np.arange(len(items))
    num_items = len(items)

  def part(test):
    sel = ratings['test'] == test
    liked = (ratings['rating'][sel] >= LIKE) if signed else None
    return dataset.Interactions(
        ratings['user'][sel].astype(np.int32),
        item_map[ratings['item'][sel]].astype(np.int32), liked=liked)

  ds = dataset.Dataset('parity', 'in-memory parity data', num_users,
                       num_items, part(False),
                       dataset.Interactions.empty(part(False)), part(True),
                       np.arange(num_users).astype(str),
                       np.arange(num_items).astype(str))
  m = metrics.evaluate(_rows, jnp.asarray(scores), user_item.truth(ds, 'test'),
                       user_item.exclude(ds, 'test'), num_items, KS, 64)
  return {f'{name}@{k}': 100 * m[f'{name}@{k}'] for k in KS
          for name in METRICS}


# --- importing the authors' modules -----------------------------------------


def _top_names(folder: str) -> set[str]:
  """Top-level module and package names a checkout folder defines."""
  return {os.path.splitext(f)[0] for f in os.listdir(folder)
          if f.endswith('.py') or os.path.isdir(os.path.join(folder, f))}


def import_isolated(folder: str, *names: str):
  """Imports modules from a checkout folder without name clashes.

  Checkouts reuse names (util, evaluator, utils, common) among themselves
  and with this folder's common.py, so each is imported with its own names
  taken out of sys.modules and off sys.path, which are restored afterwards.
  The returned modules keep their own imports alive.
  """
  tops = _top_names(folder)
  saved_modules = {k: sys.modules.pop(k) for k in list(sys.modules)
                   if k.split('.')[0] in tops}
  saved_path = list(sys.path)
  clash = lambda p: any(  # noqa: E731
      os.path.exists(os.path.join(p or '.', t + '.py')) or
      os.path.isdir(os.path.join(p or '.', t)) for t in tops)
  sys.path[:] = [folder] + [p for p in saved_path if not clash(p)]
  try:
    return [importlib.import_module(n) for n in names]
  finally:
    sys.path[:] = saved_path
    for k in list(sys.modules):
      if k.split('.')[0] in tops:
        del sys.modules[k]
    sys.modules.update(saved_modules)


@contextlib.contextmanager
def quiet():
  """Hides the authors' progress prints and numpy's 0/0 warnings."""
  with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter('ignore')
    with np.errstate(all='ignore'):
      yield


# --- the authors' evaluators --------------------------------------------------


def pane_like(folder: str, torch, ratings, scores):
  """PANE-GNN's or SiReN's util.gen_top_k + evaluator.evaluator, in percent."""
  # pandas is no jaxrec dependency: only the authors' code needs frames.
  import pandas as pd  # pylint: disable=g-import-not-at-top
  util, evaluator = import_isolated(folder, 'util', 'evaluator')
  num_users, num_items = scores.shape

  def frame(test):
    sel = ratings['test'] == test
    # Their files are 1-based: userId, movieId, rating.
    return pd.DataFrame({'userId': ratings['user'][sel] + 1,
                         'movieId': ratings['item'][sel] + 1,
                         'rating': ratings['rating'][sel]})

  data = types.SimpleNamespace(num_u=num_users, num_v=num_items,
                               train=frame(False), test=frame(True))
  with quiet():
    reco = util.gen_top_k(data, torch.from_numpy(scores.copy()),
                          K=min(300, num_items))
    ev = evaluator.evaluator(data, reco, None)
    ev.precision_and_recall()
    ev.normalized_DCG()
  values = {'precision': ev.p, 'recall': ev.r, 'ndcg': ev.nDCG}
  return {f'{name}@{k}': 100 * float(values[name]['total'][k - 1])
          for k in KS for name in METRICS}


class _ScoreModel:
  """Stand-in model: returns rows of the fixed score matrix."""

  def __init__(self, torch, scores):
    self.torch, self.scores = torch, scores

  def eval(self):  # LightGCN's and MMRec's loops call model.eval().
    return self

  def getUsersRating(self, users):  # pylint: disable=invalid-name
    """LightGCN's model.getUsersRating(users) (without its sigmoid)."""
    return self.torch.from_numpy(self.scores[users.numpy()])

  def full_sort_predict(self, interaction):
    """MMRec's model.full_sort_predict([users, mask]): scores [B, I]."""
    return self.torch.from_numpy(self.scores[interaction[0].numpy()])


def lightgcn(folder: str, torch, ratings, scores):
  """LightGCN-PyTorch's Procedure.Test, in percent."""
  num_users = scores.shape[0]
  train, test = (per_user(ratings, t, num_users) for t in (False, True))
  test_dict = {u: list(items) for u, items in enumerate(test) if len(items)}
  n = len(test_dict)
  # Test asserts len(users) // batch + 1 batches: batch must not divide n.
  batch = next(b for b in range(100, 1, -1) if n % b)
  argv = ['--dataset=gowalla', '--model=lgn', '--tensorboard=0',
          f'--topks={list(KS)}', f'--testbatch={batch}']
  shims.stub_if_missing('sklearn.metrics', roc_auc_score=None)
  saved, sys.argv = sys.argv, ['main.py', *argv]
  try:
    with shims.no_makedirs_under(os.path.dirname(folder)), quiet():
      (procedure,) = import_isolated(folder, 'Procedure')
  finally:
    sys.argv = saved
  dataset = types.SimpleNamespace(
      testDict=test_dict,
      getUserPosItems=lambda users: [train[u] for u in users])
  with quiet():
    res = procedure.Test(dataset, _ScoreModel(torch, scores), 0, None, 0)
  return {f'{name}@{k}': 100 * float(res[name][i])
          for i, k in enumerate(KS) for name in METRICS}


def grcn(folder: str, torch, ratings, scores):
  """Official GRCN's Net.full_accuracy on a stand-in Net, in percent.

  full_accuracy scores result[:U] @ result[U:].T; with result = [S; I_I]
  that product is S exactly. Items are offset by num_user, as in GRCN's
  user_item_dict and val_full.npy / test_full.npy rows [user, items...].
  """
  num_users, num_items = scores.shape
  train, test = (per_user(ratings, t, num_users) for t in (False, True))
  shims.pyg_scatter_underscore()
  with quiet():
    (routing,) = import_isolated(folder, 'Model_routing')
  net = types.SimpleNamespace(
      result=torch.cat([torch.from_numpy(scores), torch.eye(num_items)]),
      num_user=num_users,
      user_item_dict={u: set((items + num_users).tolist())
                      for u, items in enumerate(train) if len(items)})
  rows = [[u, *(items + num_users).tolist()] for u, items in enumerate(test)
          if len(items)]
  out = {}
  for k in KS:
    with quiet():
      p, r, n = routing.Net.full_accuracy(net, rows, step=num_users, topk=k)
    out.update({f'precision@{k}': 100 * p, f'recall@{k}': 100 * r,
                f'ndcg@{k}': 100 * n})
  return out


class _RecData:
  """Stand-in for MMRec's RecDataset: what EvalDataLoader reads."""

  uid_field, iid_field = 'userID', 'itemID'

  def __init__(self, df, num_users: int, num_items: int):
    self.df, self.user_num, self.item_num = df, num_users, num_items
    self.inter_num = len(df)

  def copy(self, df):
    return _RecData(df.copy(), self.user_num, self.item_num)


def mmrec(folder: str, torch, ratings, scores):
  """MMRec's Trainer.evaluate (mask) + TopKEvaluator, in percent."""
  # pandas is no jaxrec dependency: only the authors' code needs frames.
  import pandas as pd  # pylint: disable=g-import-not-at-top
  num_users, num_items = scores.shape
  shims.numpy_legacy_aliases()
  shims.stub_if_missing('matplotlib.pyplot')
  trainer, topk, loader = import_isolated(
      folder, 'common.trainer', 'utils.topk_evaluator', 'utils.dataloader')

  def frame(test):
    sel = ratings['test'] == test
    return _RecData(pd.DataFrame({'userID': ratings['user'][sel],
                                  'itemID': ratings['item'][sel]}),
                    num_users, num_items)

  config = {'device': 'cpu', 'metrics': ['Recall', 'NDCG', 'Precision'],
            'topk': list(KS), 'save_recommended_topk': False}
  data = loader.EvalDataLoader(config, frame(True),
                               additional_dataset=frame(False), batch_size=64)
  stand_in = types.SimpleNamespace(model=_ScoreModel(torch, scores),
                                   config=config,
                                   evaluator=topk.TopKEvaluator(config))
  with quiet():
    res = trainer.Trainer.evaluate(stand_in, data, is_test=True)
  return {f'{name}@{k}': 100 * float(res[f'{name}@{k}']) for k in KS
          for name in METRICS}


DRIVERS = {'pane_gnn': pane_like, 'siren': pane_like, 'lightgcn': lightgcn,
           'grcn': grcn, 'mmrec': mmrec}


# --- comparison ---------------------------------------------------------------


def difference(ours, theirs):
  """jaxrec - reference, in metric points (percent), rounded to 1e-6."""
  return {k: round(ours[k] - theirs[k], 6) for k in theirs}


def explain(name: str, diff: dict, diff_remapped: dict | None) -> list[str]:
  """One line per observed difference (or 'none'), from the known causes."""
  known = EXPLANATIONS[name]
  big = lambda d, tol=1e-4: any(abs(v) > tol for v in d.values())  # noqa: E731
  lines = []
  if name in ('pane_gnn', 'siren'):
    if big(diff):
      lines.append(known['never_rated'])
    if diff_remapped is not None and big(diff_remapped):
      lines.append('UNEXPLAINED: differences remain with the never-rated '
                   'items dropped.')
  elif name == 'grcn':
    if big({k: v for k, v in diff.items() if k.startswith('ndcg')}):
      lines.append(known['idcg'])
    if big({k: v for k, v in diff.items() if not k.startswith('ndcg')}):
      lines.append(known['mask'])
  elif name == 'mmrec':
    if big(diff, 0.005 + 1e-6):
      lines.append('UNEXPLAINED: more than the 4-decimal rounding.')
    elif big(diff, 1e-6):
      lines.append(known['round'])
  elif big(diff):
    lines.append('UNEXPLAINED difference.')
  return lines or ['none: identical up to float rounding']


def run() -> None:
  """Runs every given reference on both score matrices and writes the JSON."""
  torch = common.require_torch()
  folders, skipped = {}, {}
  for name, (marker, sub, *_) in REFERENCES.items():
    try:
      root = common.require_reference(_PATHS[name].value, marker)
      folders[name] = (root, os.path.join(root, sub) if sub else root)
    except common.Unavailable as e:
      skipped[name] = str(e)
  if not folders:
    raise common.Unavailable('no usable reference: ' + '; '.join(
        f'{n}: {why}' for n, why in skipped.items()))
  torch.set_num_threads(1)
  logging.set_verbosity(logging.WARNING)

  ratings, normal = make_data(_SEED.value, _USERS.value, _ITEMS.value,
                              _UNRATED.value)
  likes = implicit(ratings)
  rated = np.unique(ratings['item'])
  cases = score_cases(ratings, normal)
  results = {}
  for name, (root, folder) in folders.items():
    signed = name in ('pane_gnn', 'siren')
    data = ratings if signed else likes
    entry = {'repository': REFERENCES[name][2],
             'commit': _COMMITS[name].value or common.commit_of(root),
             'code': REFERENCES[name][3],
             'cases': {}}
    for case, scores in cases.items():
      theirs = DRIVERS[name](folder, torch, data, scores)
      ours = jaxrec_metrics(data, scores, signed)
      row = {'reference': theirs, 'jaxrec': ours,
             'difference_points': difference(ours, theirs)}
      if signed:
        row['jaxrec_remapped'] = jaxrec_metrics(data, scores, signed, rated)
        row['difference_points_remapped'] = difference(
            row['jaxrec_remapped'], theirs)
      row['explanation'] = explain(name, row['difference_points'],
                                   row.get('difference_points_remapped'))
      entry['cases'][case] = row
      print(f'{name:>9} {case:<16} ' + '  '.join(
          f'{k} {theirs[k]:7.3f}/{ours[k]:7.3f} ({ours[k] - theirs[k]:+.3f})'
          for k in theirs))
    results[name] = entry
  import jax  # pylint: disable=g-import-not-at-top
  common.write('evaluation', {
      'setup': {'num_users': _USERS.value, 'num_items': _ITEMS.value,
                'never_rated_items': _UNRATED.value, 'seed': _SEED.value,
                'ratings': int(len(ratings['user'])),
                'test_share': 0.2, 'like': f'rating >= {LIKE}',
                'implicit_likes': int(len(likes['user'])),
                'units': 'percent; difference_points = jaxrec - reference',
                'torch': torch.__version__, 'jax': jax.__version__},
      'references': results,
      'skipped': skipped,
  }, _OUT.value)
  print(f'wrote {_OUT.value} [evaluation]' +
        (f' (skipped: {", ".join(skipped)})' if skipped else ''))


def main(argv):
  del argv
  common.main_guard(run)


if __name__ == '__main__':
  app.run(main)
