"""The evaluate tool, run from a checkout.

python launch/evaluate.py --help lists its flags. Installed, the same tool is
`jaxrec-evaluate`, or `python -m jaxrec evaluate`; its code is
jaxrec/cli/evaluate.py.
"""

from jaxrec import cli

if __name__ == '__main__':
  cli.launch('evaluate')
