"""`python -m abr.cli`: the same as the `abr` command."""

import sys

from abr.cli import main

sys.exit(main())
