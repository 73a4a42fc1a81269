"""Category purity of the GCN article's toy recommendations, over seeds.

Trains configs/gcn_copurchase_toy.py with several model seeds (the graph is
always the article's, numpy seed 42), lists the top-5 recommendations for
anchors 0, 7 and 14 (known neighbours excluded, as in the article), and
counts how many are in the anchor's category, next to how many
same-category items are left to recommend at all once the known neighbours
are excluded.

  python benchmarks/copurchase_toy_purity.py --seeds=0,1,2,3,4

Writes JSON (default benchmarks/results/copurchase_toy_purity.json).
"""

from jaxrec import runtime  # pylint: disable=g-bad-import-order
runtime.use_huge_pages()  # First: re-executes before anything is allocated.

import json
import os
import sys
import tempfile

from absl import app
from absl import flags
from absl import logging

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import gcn_copurchase_toy  # pylint: disable=g-import-not-at-top,wrong-import-position
from jaxrec import evaluate  # pylint: disable=wrong-import-position
from jaxrec import train  # pylint: disable=wrong-import-position

_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2', '3', '4'], 'Model seeds.')
_OUT = flags.DEFINE_string(
    'out', 'benchmarks/results/copurchase_toy_purity.json', 'Output JSON.')
ANCHORS = (0, 7, 14)
K = 5


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  runs = []
  for seed in map(int, _SEEDS.value):
    config = gcn_copurchase_toy.get_config()
    config.unlock()
    config.seed = seed
    with tempfile.TemporaryDirectory() as workdir:
      train.train_and_evaluate(config, workdir)
      task, params, _ = evaluate.restore_run(workdir)
    category = [int(n.split('category ')[1].rstrip(')'))
                for n in task.data.item_names]
    edges = task.data.all_edges()
    for anchor in ANCHORS:
      known = {int(b) for a, b in zip(edges.i, edges.j) if a == anchor} | {
          int(a) for a, b in zip(edges.i, edges.j) if b == anchor}
      available = [i for i in range(task.data.num_items) if i != anchor
                   and i not in known and category[i] == category[anchor]]
      recs = task.kind.recommend(task, params, item=str(anchor), k=K)
      ids = [int(r.item_id) for r in recs]
      same = sum(category[i] == category[anchor] for i in ids)
      runs.append({'seed': seed, 'anchor': anchor, 'top5': ids,
                   'same_category': same,
                   'same_category_available': len(available),
                   'best_possible': min(K, len(available))})
      print(f'seed {seed} anchor {anchor:2d}: top-5 {ids}  same category '
            f'{same}/{min(K, len(available))} possible '
            f'({len(available)} same-category non-neighbours)')
  total = sum(r['same_category'] for r in runs)
  possible = sum(r['best_possible'] for r in runs)
  print(f'All: {total} of {possible} possible same-category slots filled '
        f'({len(runs)} lists).')
  os.makedirs(os.path.dirname(os.path.abspath(_OUT.value)), exist_ok=True)
  with open(_OUT.value, 'w') as f:
    json.dump({'runs': runs, 'same_category': total,
               'best_possible': possible}, f, indent=2)


if __name__ == '__main__':
  app.run(main)
