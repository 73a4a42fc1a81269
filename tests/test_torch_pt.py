"""Reading torch.save files without PyTorch (jaxrec.data.torch_pt).

The fixtures in tests/fixtures/torch_pt are real torch.save output
(tests/fixtures/torch_pt/make.py writes them), so CI, which installs no
PyTorch, reads what the Tiktok / Kwai feature files hold.
"""

import os
import pickle
import sys
import zipfile

import numpy as np
import pytest

from jaxrec.data import grcn_files
from jaxrec.data import torch_pt
from jaxrec.data.dataset import DataError

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures',
                    'torch_pt')
# What make.py saved, as numpy arrays of the same dtype.
EXPECTED = {
    'feat_v.pt': np.arange(15, dtype=np.float32).reshape(5, 3) / 4 - 1,
    'feat_t.pt': np.array([[0, 0, 3, 4], [7, 9, 7, 1]], np.int64),
    'strided.pt': np.arange(12, dtype=np.float64).reshape(3, 4)[:, 1:].T,
    'int32.pt': np.array([1, -2, 3], np.int32),
}


def fixture(name):
  return os.path.join(HERE, name)


@pytest.fixture
def no_torch(monkeypatch):
  monkeypatch.setitem(sys.modules, 'torch', None)  # `import torch` fails.


@pytest.mark.parametrize('name', sorted(EXPECTED))
def test_fixtures_read_without_torch(no_torch, name):
  """Values, dtype and shape; strided.pt is a transposed view at offset 1."""
  del no_torch
  got = torch_pt.load(fixture(name))
  assert got.dtype == EXPECTED[name].dtype
  np.testing.assert_array_equal(got, EXPECTED[name])
  np.testing.assert_array_equal(grcn_files.load_pt(fixture(name)),
                                EXPECTED[name])


def test_fixtures_are_what_pytorch_reads():
  torch = pytest.importorskip('torch')
  for name, want in EXPECTED.items():
    value = torch.load(fixture(name), weights_only=True).numpy()
    np.testing.assert_array_equal(value, want)
    assert value.dtype == want.dtype


def _rewrite(src, dst, change):
  """Copies a .pt archive, with change(name, bytes) -> bytes per entry."""
  with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, 'w') as b:
    for name in a.namelist():
      b.writestr(name, change(name, a.read(name)))


def test_big_endian_storage(tmp_path):
  """byteorder 'big' with byte-swapped data reads as the same numbers."""
  def swap(name, data):
    if name.endswith('byteorder'):
      return b'big'
    if '/data/' in name:
      return np.frombuffer(data, '<f4').astype('>f4').tobytes()
    return data
  _rewrite(fixture('feat_v.pt'), tmp_path / 'big.pt', swap)
  got = torch_pt.load(str(tmp_path / 'big.pt'))
  np.testing.assert_array_equal(got, EXPECTED['feat_v.pt'])
  assert got.dtype == np.float32 and got.dtype.isnative


class _Payload:
  """Unpickling this runs a shell command (here: creates a marker file)."""

  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f'touch {self.marker}',))


def test_code_in_the_pickle_is_refused_not_run(tmp_path):
  marker = tmp_path / 'pwned'
  evil = pickle.dumps(_Payload(marker), protocol=2)
  _rewrite(fixture('feat_v.pt'), tmp_path / 'evil.pt',
           lambda name, data: evil if name.endswith('data.pkl') else data)
  with pytest.raises(DataError, match='system, which is not part of a plain'):
    torch_pt.load(str(tmp_path / 'evil.pt'))
  assert not marker.exists()


def test_layouts_past_the_storage_are_refused():
  """A size / stride reaching past the storage would read foreign memory."""
  storage = np.arange(4.0)
  np.testing.assert_array_equal(torch_pt._rebuild(storage, 1, (3,), (1,)),  # pylint: disable=protected-access
                                [1.0, 2.0, 3.0])
  for offset, size, stride in ((1, (2, 2), (2, 1)), (0, (5,), (1,)),
                               (-1, (2,), (1,)), (0, (2,), (-1,))):
    with pytest.raises(pickle.UnpicklingError):
      torch_pt._rebuild(storage, offset, size, stride)  # pylint: disable=protected-access


def test_other_files_without_torch_give_the_conversion(no_torch):
  """Legacy-format or non-tensor files: the reason and the one-line fix."""
  del no_torch
  for name, reason in (('legacy.pt', 'is not a zip archive'),
                       ('dict.pt', 'holds a dict, not one tensor')):
    with pytest.raises(DataError) as info:
      grcn_files.load_pt(fixture(name))
    message = str(info.value)
    assert reason in message and 'PyTorch is not installed' in message
    stem = name[:-3]
    assert f"numpy.save('{stem}.npy', torch.load('{stem}.pt')" in message


def test_legacy_format_goes_through_pytorch_when_installed():
  pytest.importorskip('torch')
  np.testing.assert_array_equal(grcn_files.load_pt(fixture('legacy.pt')),
                                np.ones((2, 2), np.float32))
  with pytest.raises(DataError, match='holds a dict, not'):
    grcn_files.load_pt(fixture('dict.pt'))
