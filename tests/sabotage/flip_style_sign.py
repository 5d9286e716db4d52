"""`pytest -p tests.sabotage.flip_style_sign tests/learning/end_to_end/test_learning.py`: the style reward
with its sign flipped, so the trainer is paid for looking unlike the clips (and for falling early). The
learning test must fail under it."""

from ampbench.learning import amp
from ampbench.task.rewards import style_reward


def _flipped(logits, kind):
    return -style_reward(logits, kind)


amp.style_reward = _flipped
