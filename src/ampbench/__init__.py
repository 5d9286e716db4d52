"""ampbench: reproducible AMP humanoid locomotion benchmarks."""

import time

IMPORTED_AT = time.monotonic()
"""When this process first imported ampbench: training reports its time to the first update from here."""
