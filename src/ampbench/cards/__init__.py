"""Experiment cards: the single source of an experiment's truth, validated before anything runs.

A card is a YAML file under `benchmarks/`. It is parsed into frozen Pydantic models that forbid unknown
keys, so a typo fails loudly with the file and the dotted field name instead of silently using a default.
Named overlays (`smoke`, `eval`) are dotted-key patches applied before validation, from the card's own
`overlays` or from the shared `benchmarks/overlays/<name>.yaml`; `--set a.b=value` overrides come last.
"""

from ampbench.cards.base import Range
from ampbench.cards.evaluation import (
    BreakingPointSearch,
    EnduranceConfig,
    EvalConfig,
    EvalPushGrid,
    Expectation,
    GaitPushConfig,
    ImitationConfig,
    PushCell,
    RenderConfig,
)
from ampbench.cards.loading import (
    CardError,
    apply_dotted,
    card_from_dict,
    load_card,
    parse_override,
    shared_overlay_dir,
    with_overlays,
)
from ampbench.cards.schema import (
    AmpConfig,
    ClipRef,
    CommandConfig,
    ExperimentCard,
    FeatureSet,
    HumanoidConfig,
    LogStdAnneal,
    MjxOptions,
    MocapConfig,
    PpoConfig,
    PushConfig,
    RandomizationConfig,
    SimulatorConfig,
    SpeedBand,
    TrainingConfig,
    data_hash,
)

__all__ = [
    "AmpConfig",
    "BreakingPointSearch",
    "CardError",
    "ClipRef",
    "CommandConfig",
    "EnduranceConfig",
    "EvalConfig",
    "EvalPushGrid",
    "Expectation",
    "ExperimentCard",
    "FeatureSet",
    "GaitPushConfig",
    "HumanoidConfig",
    "ImitationConfig",
    "LogStdAnneal",
    "MjxOptions",
    "MocapConfig",
    "PpoConfig",
    "PushCell",
    "PushConfig",
    "RandomizationConfig",
    "Range",
    "RenderConfig",
    "SimulatorConfig",
    "SpeedBand",
    "TrainingConfig",
    "apply_dotted",
    "card_from_dict",
    "data_hash",
    "load_card",
    "parse_override",
    "shared_overlay_dir",
    "with_overlays",
]
