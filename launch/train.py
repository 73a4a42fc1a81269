"""The train tool, run from a checkout.

python launch/train.py --help lists its flags. Installed, the same tool is
`jaxrec-train`, or `python -m jaxrec train`; its code is jaxrec/cli/train.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('train')
