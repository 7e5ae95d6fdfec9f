"""``python -m inertialar``: see ``inertialar.cli.main``."""

import sys

from inertialar.cli.main import main

sys.exit(main())
