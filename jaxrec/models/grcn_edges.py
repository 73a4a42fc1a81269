"""GRCN's refined graph after training: its edge weights, written to disk.

The refined weights are what GRCN learns about the graph (which edges it
trusts, per modality); they are saved next to the best checkpoint.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import numpy as np
from absl import logging


def refined_edges(model: nn.Module, params, inputs: dict[str, Any]
                  ) -> dict[str, np.ndarray]:
  """The refined weights of the training graph's real edges (host arrays).

  Returns:
    dict: 'sender', 'receiver' int [2E] node ids (users [0, U), items
    [U, U + I)); 'weight' [2E] refined weight; 'alpha' [2E, M] per-modality
    affinities; 'confidence' [U + I, M]; 'modalities' [M] names.
  """
  out = jax.jit(model.apply)({'params': params}, inputs)
  graph = inputs['graph']
  real = np.asarray(graph.n_edge)[0]
  return {
      'sender': np.asarray(graph.senders[:real]),
      'receiver': np.asarray(graph.receivers[:real]),
      'weight': np.asarray(out['weight'][:real]),
      'alpha': np.asarray(out['alpha'][:real]),
      'confidence': np.asarray(out['confidence']),
      'modalities': np.array(model.modalities),
  }


def after_training(model: nn.Module, params, inputs: dict[str, Any],
                   workdir: str) -> None:
  """Writes WORKDIR/edge_weights.npz and logs what hard pruning removes."""
  edges = refined_edges(model, params, inputs)
  np.savez(f'{workdir}/edge_weights.npz', **edges)
  pruned = float(np.mean(edges['weight'] <= 0))
  logging.info(
      'Refined graph: %d directed edges; %.1f%% have weight <= 0 (%s by '
      'hard pruning). Weights, affinities and confidences: %s/'
      'edge_weights.npz', len(edges['weight']), 100 * pruned,
      'removed' if model.hard_pruning else 'would be removed', workdir)
