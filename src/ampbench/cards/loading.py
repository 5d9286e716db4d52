"""Loading experiment cards: named overlays (dotted-key patches, the card's own or
`benchmarks/overlays/<name>.yaml`), `--set a.b=value` overrides, then validation against the schema, with
errors that name the file and the dotted field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ampbench.cards.schema import ExperimentCard


class CardError(ValueError):
    """A card file that cannot be used; the message names the file and the field."""


class _CardLoader(yaml.SafeLoader):
    """Safe YAML without what makes a card mean something other than it reads: a repeated key (the last
    would silently win) and aliases (`*name`, which can also multiply a small file into gigabytes)."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed in cards", mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, str | int | float | bool | None):
                message = f"a mapping key must be a plain value, found {type(key).__name__}"
                raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r} (the last one would silently win)",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(text: str) -> Any:
    """A card's YAML: safe, with repeated keys and aliases refused (`yaml.YAMLError` naming the line)."""
    return yaml.load(text, Loader=_CardLoader)  # a SafeLoader: builds plain data only


def parse_override(text: str) -> tuple[str, Any]:
    """`a.b=value` -> ("a.b", value); the value is read as YAML so numbers and lists keep their type."""
    if "=" not in text:
        raise CardError(f"override '{text}' must look like dotted.key=value")
    key, raw = text.split("=", 1)
    try:
        return key.strip(), yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise CardError(
            f"override '{text}': the value is not valid YAML ({error.problem or error})"
        ) from None


def apply_dotted(data: dict[str, Any], key: str, value: Any, *, source: str) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise CardError(f"{source}: cannot set '{key}': '{part}' is not a section")
        node = child
    node[parts[-1]] = value


def _format_errors(path: str, error: ValidationError) -> str:
    lines = [f"{path}: invalid experiment card"]
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(card)"
        detail = item["msg"]
        if item["type"] == "literal_error":
            detail += f" (found {item['input']!r})"
        elif item["type"] == "extra_forbidden":
            detail = "unknown field (check the spelling; allowed fields are listed by `ampbench cards show`)"
        lines.append(f"  {field}: {detail}")
    return "\n".join(lines)


def _shared_overlay(name: str, overlay_dir: Path | None, source: str) -> dict[str, Any]:
    path = None if overlay_dir is None else overlay_dir / f"{name}.yaml"
    if path is None or not path.is_file():
        known = (
            sorted(p.stem for p in overlay_dir.glob("*.yaml")) if overlay_dir and overlay_dir.is_dir() else []
        )
        raise CardError(
            f"{source}: overlay '{name}' is neither in the card's `overlays` nor a file in "
            f"{overlay_dir} (have {known})"
        )
    patches = read_yaml(path.read_text()) or {}
    if not isinstance(patches, dict):
        raise CardError(f"{path}: an overlay is a mapping of dotted.key: value")
    return patches


def card_from_dict(
    data: dict[str, Any],
    *,
    source: str = "<card>",
    overlays: tuple[str, ...] = (),
    overrides: tuple[str, ...] = (),
    overlay_dir: Path | None = None,
) -> ExperimentCard:
    """Apply overlays (the card's own, else `overlay_dir/<name>.yaml`), then overrides; then validate."""
    data = copy.deepcopy(data)
    for name in overlays:
        patches = data.get("overlays", {}).get(name)
        if patches is None:
            patches = _shared_overlay(name, overlay_dir, source)
        for key, value in patches.items():
            apply_dotted(data, key, value, source=f"{source} overlay '{name}'")
    for text in overrides:
        key, value = parse_override(text)
        apply_dotted(data, key, value, source=f"{source} --set")
    try:
        return ExperimentCard.model_validate(data)
    except ValidationError as error:
        raise CardError(_format_errors(source, error)) from None


def shared_overlay_dir() -> Path:
    """benchmarks/overlays in a checkout, or the copy packed into the wheel."""
    package = Path(__file__).resolve().parent
    for path in (package.parents[2] / "benchmarks" / "overlays", package.parent / "_benchmarks" / "overlays"):
        if path.is_dir():
            return path
    raise CardError(f"shared overlays not found beside {package}")


def with_overlays(card: ExperimentCard, overlays: tuple[str, ...]) -> ExperimentCard:
    """A resolved card (e.g. from a run folder) with shared overlays applied on top, e.g. `eval`."""
    return card_from_dict(
        card.model_dump(mode="json"),
        source=f"card '{card.name}'",
        overlays=overlays,
        overlay_dir=shared_overlay_dir(),
    )


def load_card(
    path: str | Path, *, overlays: tuple[str, ...] = (), overrides: tuple[str, ...] = ()
) -> ExperimentCard:
    """Load a card file; shared overlays come from `overlays/` beside it, else from benchmarks/overlays."""
    path = Path(path)
    try:
        data = read_yaml(path.read_text())
    except FileNotFoundError:
        raise CardError(f"{path}: card file not found") from None
    except IsADirectoryError:
        raise CardError(f"{path}: a folder, not a card file (cards are benchmarks/<name>.yaml)") from None
    except UnicodeDecodeError:
        raise CardError(f"{path}: not a text file; a card is YAML") from None
    except yaml.YAMLError as error:
        raise CardError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise CardError(f"{path}: a card is a mapping of fields, found {type(data).__name__}")
    beside = path.parent / "overlays"
    overlay_dir = beside if beside.is_dir() else shared_overlay_dir()
    return card_from_dict(
        data, source=str(path), overlays=overlays, overrides=overrides, overlay_dir=overlay_dir
    )
