"""Models by name: each model file exports a ModelSpec (jaxrec/models/spec.py).

The task kinds, the train step, evaluation and the launchers reach a model
only through its spec, so nothing outside this package names a model.
"""

from jaxrec.errors import ConfigError
from jaxrec.models import gcn_link
from jaxrec.models import grcn
from jaxrec.models import lightgcn
from jaxrec.models import pane_gnn
from jaxrec.models import siren
from jaxrec.models.spec import ModelSpec

MODELS: dict[str, ModelSpec] = {
    spec.name: spec for spec in (lightgcn.SPEC, gcn_link.SPEC, grcn.SPEC,
                                 pane_gnn.SPEC, siren.SPEC)
}


def get(name: str) -> ModelSpec:
  """The spec of the model called `name`, or a clear error listing them."""
  if name not in MODELS:
    raise ConfigError(f'config.model.name={name!r} is not one of '
                      f'{sorted(MODELS)}.')
  return MODELS[name]
