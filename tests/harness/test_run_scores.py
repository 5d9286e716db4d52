"""The card's expectations as assertions: a run that misses one fails like a regression test.

Without `--run-dir` these tests are not collected (no run to score);
tests/pipeline/end_to_end/test_pipeline.py runs this harness on a freshly trained smoke run.
"""

from __future__ import annotations

import json


def test_score_file_has_provenance(scored):
    _, path = scored
    provenance = json.loads(path.read_text())["provenance"]
    for key in ("card_hash", "commit", "versions", "hardware", "checkpoint_sha256", "device"):
        assert provenance[key], key


def test_card_expectations_hold(scored):
    document, _ = scored
    failed = [e for e in document["expectations"] if not e["passed"]]
    assert not failed, f"expectations missed: {failed}"
