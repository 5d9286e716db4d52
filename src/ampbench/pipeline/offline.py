"""A bundle that trains and scores a card on a machine without network (a GPU node), where Python and
JAX (with its CUDA plugin) are already installed: only the wheels that machine lacks travel with it.

`ampbench offline gather OUT --have FREEZE.txt --card CARD` (run where there is network) writes:

    OUT/wheels/     ampbench's own wheel and every dependency of `ampbench[<extra>]` not named in
                    FREEZE.txt (the target's `pip freeze`), binary wheels only, no versions re-resolved
    OUT/clips/      the card's reference clips and their SOURCES.md (licences)
    OUT/card.yaml   the card
    OUT/run.sh      install + train + score + report: `bash OUT/run.sh RESULT_DIR [train options]`
    OUT/bundle.json what was gathered, for whom, from which commit

The target keeps its own packages: `run.sh` installs the wheels with `--no-deps` into a folder of its own
put ahead of the target's packages on the path, so the target's JAX build is used whatever version
ampbench pins for itself.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

from ampbench.cards import load_card
from ampbench.core.provenance import git_commit
from ampbench.motion.fetch import data_dir
from ampbench.motion.loader import clip_files

RUN_SCRIPT = "offline_run.sh"


def normalized(name: str) -> str:
    """PEP 503 name: lower case, runs of `-_.` as one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_names(freeze_text: str) -> set[str]:
    """Package names in `pip freeze` / `pip list --format=freeze` output (comments and options ignored)."""
    names = set()
    for line in freeze_text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)", line)
        if match is None:
            raise ValueError(f"cannot read a package name from the freeze line {line!r}")
        names.add(normalized(match.group(1)))
    return names


def missing_requirements(report: dict, have: set[str]) -> list[str]:
    """`name==version` for each package of a `pip install --dry-run --report` resolution that the target
    lacks, ampbench itself left out (its own wheel is built from the checkout)."""
    wanted = []
    for item in report["install"]:
        name, version = item["metadata"]["name"], item["metadata"]["version"]
        if normalized(name) in have or normalized(name) == "ampbench":
            continue
        wanted.append(f"{name}=={version}")
    return sorted(wanted)


def _pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def checkout_root() -> Path:
    """The source checkout this ampbench runs from (its wheel is built from it)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file():
        raise FileNotFoundError(
            f"ampbench offline gather builds ampbench's wheel from a source checkout; {root} is not one "
            "(run it from a clone's venv, e.g. after `pip install -e .`)"
        )
    return root


def gather(out: Path, *, have_file: Path, card_path: Path, extra: str = "mjx") -> Path:
    """Write the bundle (layout in the module docstring) into `out`; returns `out`."""
    source = checkout_root()
    card = load_card(card_path)
    have = installed_names(have_file.read_text())
    clips = _copy_clips(card, out / "clips")  # first: a missing clip stops before minutes of pip
    wheels = out / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    report_path = out / "resolution.json"
    _pip(
        "install",
        "--quiet",
        "--dry-run",
        "--ignore-installed",
        "--report",
        str(report_path),
        f"{source}[{extra}]",
    )
    wanted = missing_requirements(json.loads(report_path.read_text()), have)
    report_path.unlink()
    if wanted:
        _pip("download", "--quiet", "--no-deps", "--only-binary=:all:", "--dest", str(wheels), *wanted)
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(source))
    shutil.copyfile(card_path, out / "card.yaml")
    script = out / "run.sh"
    script.write_text(resources.files("ampbench.pipeline").joinpath(RUN_SCRIPT).read_text())
    script.chmod(0o755)
    manifest = {
        "card": card.name,
        "extra": extra,
        "commit": git_commit(),
        "have": sorted(have),
        "wheels": sorted(path.name for path in wheels.glob("*.whl")),
        "clips": clips,
    }
    (out / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return out


def _copy_clips(card, dest: Path) -> list[str]:
    """The card's clips (a folder clip with all its files) at their names under `dest`, and the clip
    folder's SOURCES.md."""
    root = data_dir()
    copied = []
    for ref in card.mocap.clips:
        files = clip_files(ref.name)
        if not files:
            raise FileNotFoundError(
                f"card {card.name}: clip {ref.name} is not in {root}; run `ampbench data fetch` first"
            )
        for path in files:
            target = dest / path.relative_to(root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.append(str(path.relative_to(root)))
    if (root / "SOURCES.md").is_file():
        shutil.copyfile(root / "SOURCES.md", dest / "SOURCES.md")
    return sorted(set(copied))
