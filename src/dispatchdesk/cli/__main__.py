"""``python -m dispatchdesk.cli``: the same as the ``dispatchdesk`` command."""

import sys

from . import main

sys.exit(main())
