"""The cross-validate tool, run from a checkout.

python launch/cross_validate.py --help lists its flags. Installed, the same
tool is `jaxrec-cross-validate`, or `python -m jaxrec cross-validate`; its code
is jaxrec/cli/cross_validate.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('cross-validate')
