"""Datasets: one Dataset type, on-disk loaders, splits and a synthetic generator."""

from jaxrec.data.dataset import DataError, Dataset, Interactions

__all__ = ['DataError', 'Dataset', 'Interactions']
