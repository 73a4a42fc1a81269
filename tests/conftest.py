"""Shared fixtures: small configs that train in about a second."""

import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)  # so tests can import configs/*.py as modules


@pytest.fixture
def smoke_config():
  """The synthetic smoke config, unlocked so tests can adjust it."""
  from configs import lightgcn_synthetic  # pylint: disable=g-import-not-at-top
  config = lightgcn_synthetic.get_config('smoke')
  config.unlock()
  return config
