"""`python -m migration_app ...` is the `migration-app` console script."""

import sys

from migration_app.cli import main

sys.exit(main())
