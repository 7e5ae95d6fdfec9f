"""``python -m inertialar``: see ``inertialar.cli``."""

import sys

from inertialar.cli import main

sys.exit(main())
