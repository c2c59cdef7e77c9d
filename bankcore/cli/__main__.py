"""`python -m bankcore.cli ...`: the same as the `bankcore` command."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
