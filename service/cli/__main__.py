"""`python -m service.cli ...`, the same as `wallet ...`."""

import sys

from service.cli import main

sys.exit(main())
