r"""Searches hyper-parameters: grid or random points, each cross-validated.

  jaxrec-sweep --config=configs/lightgcn_ml100k.py --seeds=2 --parallel=8 \
      --sweep=learning_rate=1e-3,5e-3 --sweep=l2_weight=1e-5,1e-4
  jaxrec-sweep --config=configs/pane_gnn_ml100k.py --folds=5 --parallel=5 \
      --search=random --trials=8 --sweep=learning_rate=log:1e-4:1e-2 \
      --sweep=model.contrastive_weight=0.1,0.5,1.0

(python launch/sweep.py and python -m jaxrec sweep take the same flags.)
Each point is the config with the --sweep values set, cross-validated as
jaxrec-cross-validate does (--folds / --seeds) in WORKDIR/<point>/. With
--parallel=N, up to N runs that differ only in fields that keep the program
(learning_rate, l2_weight, seed, the fold, ...) train in one compiled
program; other fields (embed_dim, num_layers, ...) get a program per value,
grouped automatically. The points are printed ranked by the validation
selection metric (mean over each point's runs; test never ranks), and
written to WORKDIR/sweep.json. The same command on the same --workdir
resumes.

--sweep=FIELD=V1,V2 lists values; with --search=random, FIELD=log:LOW:HIGH,
uniform:LOW:HIGH or int:LOW:HIGH draws them (--trials points, seeded by
--search_seed). optuna-style adaptive samplers are not included: with
stacked runs a random batch of points costs about what one point costs.
"""

import importlib

from absl import flags

from jaxrec import sweep
from jaxrec.cli import app
from jaxrec.cli import preflight

# The cross-validate tool's module (its flags are this tool's too); by name,
# since jaxrec.cli.cross_validate is also the console-script function.
cross_validate = importlib.import_module('jaxrec.cli.cross_validate')
FLAG_MODULES = (cross_validate.__name__,)  # --help lists them too.

_SEARCH = flags.DEFINE_enum('search', 'grid', ['grid', 'random'],
                            'grid: every combination of the --sweep values; '
                            'random: --trials points drawn from them.')
_TRIALS = flags.DEFINE_integer('trials', 8, 'Random search: number of points.')
_SEARCH_SEED = flags.DEFINE_integer('search_seed', 0,
                                    'Random search: seed of the draws.')


def main(argv: list[str]) -> None:
  app.no_arguments(argv)
  cross_validate.DISTRIBUTED.initialize(flags.FLAGS.workdir)
  config = preflight.checked(flags.FLAGS.config, flags.FLAGS.show_config)
  if not cross_validate.SWEEP.value:
    raise app.UsageError('Name the fields to search with --sweep=FIELD=V1,V2 '
                         '(e.g. --sweep=learning_rate=1e-3,5e-3).')
  axes = [sweep.parse(a, config) for a in cross_validate.SWEEP.value]
  points = (sweep.grid(axes) if _SEARCH.value == 'grid' else
            sweep.random_points(axes, _TRIALS.value, _SEARCH_SEED.value,
                                config))
  cross_validate.run_sweep(config, points, 'sweep')


def run() -> None:
  app.run(main, __doc__, has_config=True)
