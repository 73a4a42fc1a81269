"""Errors caused by input the user controls; launch/ prints them without a traceback."""


class UserError(Exception):
  """Base class: the message says what is wrong, where, and how to fix it."""


class DataError(UserError, ValueError):
  """Bad input data: the message names the file, the row or field, and the fix."""


class ConfigError(UserError, ValueError):
  """A config value that cannot work: the message names the key and the fix."""


class TrainingDiverged(UserError, FloatingPointError):
  """The loss became NaN or infinite."""
