"""ampbench: reproducible AMP humanoid locomotion benchmarks."""

import time

IMPORTED_AT = time.monotonic()
"""When this process first imported ampbench: training reports its time to the first update from here."""

from ampbench.render.gl import choose_gl  # noqa: E402 (before any module imports mujoco)

choose_gl()
