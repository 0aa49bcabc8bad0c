"""``python -m nnsolve.cli``: the same as the ``nnsolve`` command."""

import sys

from .main import main

sys.exit(main())
