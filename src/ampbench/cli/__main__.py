"""`python -m ampbench.cli`, as the offline bundle and SLURM jobs call it."""

import sys

from ampbench.cli import main

sys.exit(main())
