"""The export tool, run from a checkout.

python launch/export.py --help lists its flags. Installed, the same tool is
`jaxrec-export`, or `python -m jaxrec export`; its code is jaxrec/cli/export.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('export')
