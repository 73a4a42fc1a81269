"""python -m jaxrec COMMAND [flags]: the command-line tools (jaxrec.cli)."""

from jaxrec import cli

if __name__ == '__main__':
  cli.main()
