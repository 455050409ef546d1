"""``python -m mnist_logreg``."""

import sys

from .cli import main

sys.exit(main())
