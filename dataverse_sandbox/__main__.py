"""``python -m dataverse_sandbox``: see :mod:`dataverse_sandbox.cli`."""

import sys

from dataverse_sandbox.cli import main

sys.exit(main())
