"""Score files: write a run's score document with its provenance to
`results/<card>/<backend>/<run-id>/scores.json` (`write_scores`), and read one back, checked (`load_scores`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ampbench.cards import ExperimentCard
from ampbench.core.files import atomic_write_bytes
from ampbench.scoring.score import SCHEMA_VERSION, ScoreError

PROJECT_TRAINER = ExperimentCard.model_fields["trainer"].default  # the card's default trainer
PROVENANCE_KEYS = ("card_hash", "commit", "versions", "hardware", "checkpoint_sha256", "device")
REQUIRED_KEYS = (
    "schema",
    "card",
    "phase",
    "backend",
    "run_id",
    "provenance",
    "protocol",
    "episode_seconds",
    "tracking_error",
    "imitation_error",
    "push_cells",
    "push_success",
    "max_impulse_survived",
    "gait_push_success",
    "endurance",
    "expectations",
)


def _path_component(value: str, what: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value:
        raise ScoreError(f"{what} must be a single folder name, found {value!r}")
    return value


def _check_provenance(provenance: dict[str, Any], where: str) -> None:
    if not isinstance(provenance, dict):
        raise ScoreError(f"{where}: provenance must be a mapping, found {type(provenance).__name__}")
    missing = [key for key in PROVENANCE_KEYS if key not in provenance]
    if missing:
        raise ScoreError(f"{where}: provenance is missing {missing} (required: {list(PROVENANCE_KEYS)})")


LEARNING_CURVES = "learning_curves.json"
"""Beside a run's scores.json: its training curves (written by the harness, drawn by the report)."""


def learning_curves_beside(results_root: Path, doc: dict[str, Any]) -> Path:
    """The learning curves file beside a score document found under `results_root` (it may not exist: a
    run scored without its TensorBoard logs has none)."""
    return Path(results_root) / doc["card"] / doc["backend"] / doc["run_id"] / LEARNING_CURVES


def result_folder(
    results_root: Path, card: ExperimentCard, backend: str, run_id: str, scored_on: str | None = None
) -> Path:
    """`results_root/<card>/<backend>/<run_id>/`, or its `on-<scored_on>/` for another scoring backend:
    where a run's score file, curves and videos go."""
    folder = (
        Path(results_root)
        / _path_component(card.name, "card name")
        / _path_component(backend, "backend")
        / _path_component(run_id, "run id")
    )
    if scored_on and scored_on != backend:
        folder = folder / f"on-{_path_component(scored_on, 'backend')}"
    return folder


def write_scores(
    doc: dict[str, Any],
    results_root: Path,
    card: ExperimentCard,
    backend: str,
    run_id: str,
    provenance: dict[str, Any],
    *,
    scored_on: str | None = None,
) -> Path:
    """Write `results_root/<card>/<backend>/<run_id>/scores.json` atomically; return its path.

    `backend` is the one the policy trained on. Scored on another (`scored_on`), the file goes to
    `.../<run_id>/on-<scored_on>/scores.json`: the train-on x score-on matrix's off-diagonal, kept out of
    the backend's own tables."""
    scored_on = scored_on or backend
    _check_provenance(provenance, f"scores for {card.name}/{backend}/{run_id}")
    if doc.get("card") != card.name:
        raise ScoreError(f"score document is for card {doc.get('card')!r}, not {card.name!r}")
    path = result_folder(results_root, card, backend, run_id, scored_on) / "scores.json"
    full = {
        **doc,
        "backend": backend,
        "trainer": card.trainer,
        "scored_on": scored_on,
        "run_id": run_id,
        "provenance": provenance,
    }
    atomic_write_bytes(path, (json.dumps(full, indent=2, sort_keys=True, allow_nan=False) + "\n").encode())
    return path


def trained_by(doc: dict[str, Any]) -> str:
    """The card's `trainer` of a score document; files from before the field existed were all trained
    by the project's trainer, the only one then."""
    return doc.get("trainer", PROJECT_TRAINER)


class _NonFinite(str):
    """A NaN or Infinity constant of a score file, kept while it is read so its key can be named."""


def _non_finite_key(value: Any, key: str = "") -> tuple[str, str] | None:
    """(dotted key, constant) of the first NaN or Infinity in a parsed score file, else None."""
    if isinstance(value, _NonFinite):
        return key, str(value)
    children = (
        value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    )
    for name, child in children:
        found = _non_finite_key(child, f"{key}.{name}" if key else str(name))
        if found is not None:
            return found
    return None


def load_scores(path: Path) -> dict[str, Any]:
    """Read a score file; a missing or malformed file raises ScoreError naming the path and the key."""
    path = Path(path)
    try:
        # JSON has no NaN or Infinity, but Python's reader takes them: read each as a marker to name its key.
        doc = json.loads(path.read_text(), parse_constant=_NonFinite)
    except FileNotFoundError:
        raise ScoreError(f"{path}: score file not found") from None
    except json.JSONDecodeError as error:
        raise ScoreError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(doc, dict):
        raise ScoreError(f"{path}: a score file is a JSON object, found {type(doc).__name__}")
    found = _non_finite_key(doc)
    if found is not None:
        key, constant = found
        raise ScoreError(
            f"{path}: key '{key}' is {constant} where a number belongs (score files write undefined values "
            "as null)"
        )
    missing = [key for key in REQUIRED_KEYS if key not in doc]
    if missing:
        raise ScoreError(f"{path}: missing key(s) {missing}")
    if doc["schema"] != SCHEMA_VERSION:
        raise ScoreError(f"{path}: key 'schema' is {doc['schema']!r}, this ampbench reads {SCHEMA_VERSION}")
    _check_provenance(doc["provenance"], str(path))
    return doc
