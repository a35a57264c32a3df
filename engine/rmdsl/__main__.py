"""`python -m rmdsl` -> the CLI."""

import sys

from rmdsl.cli import main

sys.exit(main())
