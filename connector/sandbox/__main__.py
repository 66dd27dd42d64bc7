"""``python -m connector.sandbox``: see :mod:`connector.sandbox.cli`."""

import sys

from connector.sandbox.cli import main

sys.exit(main())
