"""A run folder read back as the card and provenance it was trained with."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ampbench.cards import CardError, ExperimentCard, data_hash
from ampbench.core.runs import RunError


def load_run(run_dir: Path) -> tuple[ExperimentCard, dict[str, Any]]:
    """Card and provenance of a run folder, with an error that says what is missing where."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run folder not found")
    for name in ("card.json", "provenance.json"):
        if not (run_dir / name).is_file():
            raise RunError(
                f"{run_dir}: not a run folder ({name} is missing; runs are made by `ampbench train`)"
            )
    try:
        card_data = json.loads((run_dir / "card.json").read_text())
        prov = json.loads((run_dir / "provenance.json").read_text())
    except json.JSONDecodeError as error:
        raise RunError(f"{run_dir}: unreadable JSON ({error})") from None
    try:
        card = ExperimentCard.model_validate(card_data)
    except ValueError as error:
        raise CardError(f"{run_dir / 'card.json'}: {error}") from None
    if data_hash(card_data) != prov.get("card_hash"):
        raise RunError(
            f"{run_dir}: card.json does not match provenance.json card_hash "
            f"({data_hash(card_data)} != {prov.get('card_hash')}); the folder was edited after the run"
        )
    return card, prov
