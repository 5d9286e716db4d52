"""Get the public reference clips into the clip folder, converted, with their licences named.

Sources (each converted into `<data dir>/<source>/<clip>.npz`, the names the cards use):
- deepmimic: DeepMimic's humanoid3d clips, taken from the pybullet source distribution on PyPI (it
  redistributes them unchanged, all but jog), jog from DeepMimic's public repository, or all of them
  from a local copy (`import_local`);
- poselib: IsaacGymEnvs' `amp_humanoid_*.npy` clips, from a local copy;
- isaaclab: the humanoid_amp motions inside the `isaaclab==2.3.2.post1` wheel, fetched with pip.
Every call prints each source's licence and rewrites `SOURCES.md` in the clip folder.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ampbench.motion.clip import ClipError, MotionClip
from ampbench.motion.clip_files import save_clip
from ampbench.motion.convert.deepmimic import deepmimic_to_clip
from ampbench.motion.convert.isaaclab_npz import isaaclab_to_clip
from ampbench.motion.convert.poselib import poselib_to_clip
from ampbench.motion.loader import DATA_DIR_ENV, DEFAULT_DATA_DIR

CACHE_DIR_ENV = "AMPBENCH_CACHE"
DEEPMIMIC_CLIPS = ("walk", "run", "jog", "getup_faceup", "getup_facedown", "roll", "crawl")
POSELIB_CLIPS = ("walk", "run", "hop")
ISAACLAB_CLIPS = ("walk", "run", "dance")
DEEPMIMIC_URL = "https://raw.githubusercontent.com/xbpeng/DeepMimic/master/data/motions/humanoid3d_{clip}.txt"
PYBULLET_REQUIREMENT = "pybullet==3.2.7"
PYBULLET_SDIST = "pybullet-3.2.7.tar.gz"
PYBULLET_MEMBER = "pybullet-3.2.7/examples/pybullet/gym/pybullet_data/data/motions/humanoid3d_{clip}.txt"
ISAACLAB_REQUIREMENT = "isaaclab==2.3.2.post1"
ISAACLAB_WHEEL_GLOB = "isaaclab-2.3.2.post1-*.whl"
ISAACLAB_MEMBER = (
    "isaaclab/source/isaaclab_tasks/isaaclab_tasks/direct/humanoid_amp/motions/humanoid_{clip}.npz"
)
DOWNLOAD_TIMEOUT_S = 300

Report = Callable[[str], None]


class FetchError(RuntimeError):
    """A download or extraction failed; the message says what was tried and how to work around it."""


@dataclass(frozen=True)
class Source:
    """Where one clip folder comes from and under which terms."""

    folder: str
    title: str
    origin: str
    licence: str
    notice: str


SOURCES = {
    "deepmimic": Source(
        "deepmimic",
        "DeepMimic humanoid3d motion clips",
        "https://github.com/xbpeng/DeepMimic (data/motions/humanoid3d_*.txt); all but jog as redistributed "
        f"unchanged in the {PYBULLET_REQUIREMENT} source distribution on PyPI",
        "MIT License",
        "Copyright (c) 2018 Xue Bin Peng. Permission is granted free of charge to use, copy, modify, "
        "merge, publish and distribute, provided the copyright and permission notice are included.",
    ),
    "poselib": Source(
        "poselib",
        "IsaacGymEnvs AMP humanoid motions (poselib .npy)",
        "https://github.com/isaac-sim/IsaacGymEnvs (assets/amp/motions/amp_humanoid_*.npy)",
        "BSD 3-Clause License",
        "Copyright (c) 2018-2023, NVIDIA Corporation. Created from the CMU Graphics Lab Motion Capture "
        "Database: the data used in this project was obtained from mocap.cs.cmu.edu; the database was "
        "created with funding from NSF EIA-0196217.",
    ),
    "isaaclab": Source(
        "isaaclab",
        "Isaac Lab humanoid_amp motions (humanoid_{walk,run,dance}.npz)",
        f"Python package {ISAACLAB_REQUIREMENT} (isaaclab_tasks/direct/humanoid_amp/motions/)",
        "BSD 3-Clause License (Isaac Lab source repository)",
        "Copyright (c) 2022-2026, The Isaac Lab Project Developers (SPDX-License-Identifier: BSD-3-Clause "
        "in the wheel's humanoid_amp sources; the wheel's metadata says 'NVIDIA Proprietary Software': "
        "check both before redistributing). Motions derived from the CMU "
        "Graphics Lab Motion Capture Database (mocap.cs.cmu.edu, NSF EIA-0196217).",
    ),
}

CONVERTERS: dict[str, tuple[Callable[[Path], MotionClip], str, str]] = {
    # kind: (converter, source file pattern, name prefix to drop)
    "deepmimic": (deepmimic_to_clip, "humanoid3d_*.txt", "humanoid3d_"),
    "poselib": (poselib_to_clip, "*.npy", "amp_humanoid_"),
    "isaaclab": (isaaclab_to_clip, "*.npz", ""),
}


REPEATED_FRAME_KINDS = ("poselib", "isaaclab")
"""Sources whose files store every pose twice (see `retarget.drop_repeated_frames`)."""


def data_dir() -> Path:
    """$AMPBENCH_DATA, or ./data/clips."""
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def cache_dir() -> Path:
    """Downloads are kept here: $AMPBENCH_CACHE, or $XDG_CACHE_HOME/ampbench, or ~/.cache/ampbench."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ampbench"


# ---------------------------------------------------------------- converting files and folders


def convert_source(kind: str, src: Path, dst: Path, *, keep_repeated_frames: bool = False) -> list[Path]:
    """One source file -> the clip file dst, or a folder of them -> dst/<clip>.npz each.
    keep_repeated_frames (poselib, isaaclab): keep poses the file stores twice, at its own fps."""
    if kind not in CONVERTERS:
        raise ValueError(f"converter kind expected one of {sorted(CONVERTERS)}, found {kind!r}")
    converter, pattern, prefix = CONVERTERS[kind]
    if keep_repeated_frames:
        if kind not in REPEATED_FRAME_KINDS:
            raise ValueError(f"keep_repeated_frames applies to {list(REPEATED_FRAME_KINDS)}, not {kind!r}")
        converter = functools.partial(converter, keep_repeated_frames=True)
    src, dst = Path(src), Path(dst)
    if src.is_file():
        save_clip(converter(src), dst)
        return [dst]
    if not src.is_dir():
        raise ClipError(f"{src}: no such file or folder")
    sources = sorted(path for path in src.glob(pattern) if path.name != "humanoid3d_character.txt")
    if not sources:
        raise ClipError(f"{src}: no files matching {pattern!r} to convert as {kind}")
    return [_convert_one(converter, path, dst / f"{path.stem.removeprefix(prefix)}.npz") for path in sources]


def _convert_one(converter: Callable[[Path], MotionClip], src: Path, dst: Path) -> Path:
    save_clip(converter(src), dst)
    return dst


def _convert_named(kind: str, files: dict[str, Path], dst: Path) -> list[Path]:
    """{clip name: source file} -> <dst>/<kind>/<clip name>.npz."""
    converter = CONVERTERS[kind][0]
    return [_convert_one(converter, path, dst / kind / f"{clip}.npz") for clip, path in files.items()]


# ---------------------------------------------------------------- the three sources


def fetch_deepmimic(dst: Path, source: Path | None = None, *, report: Report = print) -> list[Path]:
    """DeepMimic clips from a folder of humanoid3d_<clip>.txt files, or downloaded when source is None.

    A download that cannot get every clip converts what it got and names the missing ones.
    """
    if source is not None:
        files = _required_files(Path(source), "humanoid3d_{clip}.txt", DEEPMIMIC_CLIPS)
    else:
        folder = _download_deepmimic(cache_dir() / "deepmimic", report)
        files = {
            c: folder / f"humanoid3d_{c}.txt"
            for c in DEEPMIMIC_CLIPS
            if (folder / f"humanoid3d_{c}.txt").is_file()
        }
    return _finish("deepmimic", _convert_named("deepmimic", files, Path(dst)), Path(dst), report)


def _download_deepmimic(folder: Path, report: Report) -> Path:
    """Clips out of pybullet's sdist (PyPI), the rest (jog) from DeepMimic's repository where reachable."""
    folder.mkdir(parents=True, exist_ok=True)
    _extract_pybullet_clips(
        _pip_download([PYBULLET_REQUIREMENT, "--no-binary=:all:"], folder, PYBULLET_SDIST), folder
    )
    for clip in DEEPMIMIC_CLIPS:
        target = folder / f"humanoid3d_{clip}.txt"
        if target.is_file():
            continue
        url = DEEPMIMIC_URL.format(clip=clip)
        try:
            with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                target.with_suffix(".part").write_bytes(response.read())
        except OSError as error:
            report(
                f"warning: could not download {url} ({error}); clip deepmimic/{clip} is missing. Get "
                "DeepMimic's data/motions folder another way and run `ampbench data fetch --from PATH`"
            )
            continue
        target.with_suffix(".part").replace(target)
    return folder


def _extract_pybullet_clips(sdist: Path, folder: Path) -> None:
    with tarfile.open(sdist) as archive:
        names = set(archive.getnames())
        for clip in DEEPMIMIC_CLIPS:
            member = PYBULLET_MEMBER.format(clip=clip)
            target = folder / f"humanoid3d_{clip}.txt"
            if member in names and not target.is_file():
                target.write_bytes(archive.extractfile(member).read())


def fetch_poselib(dst: Path, source: Path, *, report: Report = print) -> list[Path]:
    """IsaacGymEnvs clips from a folder of amp_humanoid_<clip>.npy files."""
    files = _required_files(Path(source), "amp_humanoid_{clip}.npy", POSELIB_CLIPS)
    return _finish("poselib", _convert_named("poselib", files, Path(dst)), Path(dst), report)


def fetch_isaaclab(dst: Path, *, cache: Path | None = None, report: Report = print) -> list[Path]:
    """Isaac Lab's three motions: pip-download the wheel into the cache, extract, convert."""
    folder = extract_isaaclab_motions(download_isaaclab_wheel(cache or cache_dir()))
    files = {clip: folder / f"humanoid_{clip}.npz" for clip in ISAACLAB_CLIPS}
    renamed = {f"humanoid_{clip}": path for clip, path in files.items()}
    return _finish("isaaclab", _convert_named("isaaclab", renamed, Path(dst)), Path(dst), report)


def download_isaaclab_wheel(cache: Path) -> Path:
    """The cached wheel, downloaded with pip first if absent (it is a Python 3.11 wheel: no install)."""
    options = ["--only-binary=:all:", "--python-version", "3.11", ISAACLAB_REQUIREMENT]
    return _pip_download(options, cache, ISAACLAB_WHEEL_GLOB)


def _pip_download(arguments: list[str], cache: Path, pattern: str) -> Path:
    """A file matching `pattern` in `cache`, fetched with `pip download --no-deps` when absent."""
    cache.mkdir(parents=True, exist_ok=True)
    cached = sorted(cache.glob(pattern))
    if cached:
        return cached[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", *arguments, "--dest", str(cache)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise FetchError(
            f"`{' '.join(command)}` failed: {detail.strip()[-500:]}; import a local copy instead with "
            "`ampbench data fetch --from PATH`"
        ) from error
    cached = sorted(cache.glob(pattern))
    if not cached:
        raise FetchError(f"pip reported success but no {pattern} is in {cache}")
    return cached[0]


def extract_isaaclab_motions(wheel: Path) -> Path:
    """The three motion NPZ files out of the wheel, into a folder beside it."""
    folder = wheel.parent / f"{wheel.stem}-motions"
    folder.mkdir(exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            for clip in ISAACLAB_CLIPS:
                with archive.open(ISAACLAB_MEMBER.format(clip=clip)) as member:
                    (folder / f"humanoid_{clip}.npz").write_bytes(member.read())
    except (zipfile.BadZipFile, KeyError) as error:
        raise FetchError(
            f"{wheel}: not the expected Isaac Lab wheel ({error}); delete it to download again"
        ) from error
    return folder


def import_local(path: Path, dst: Path | None = None, *, report: Report = print) -> list[Path]:
    """A folder laid out like shared/mocap: deepmimic/*.txt and isaacgymenvs/*.npy (either may be absent)."""
    path, dst = Path(path), Path(dst) if dst is not None else data_dir()
    written: list[Path] = []
    if (path / "deepmimic").is_dir():
        written += fetch_deepmimic(dst, path / "deepmimic", report=report)
    if (path / "isaacgymenvs").is_dir():
        written += fetch_poselib(dst, path / "isaacgymenvs", report=report)
    if not written:
        raise ClipError(f"{path}: expected subfolders 'deepmimic' and/or 'isaacgymenvs', found neither")
    return written


def fetch_public(dst: Path | None = None, *, isaaclab: bool = True, report: Report = print) -> list[Path]:
    """Download and convert DeepMimic's clips and (unless isaaclab=False) Isaac Lab's."""
    dst = Path(dst) if dst is not None else data_dir()
    written = fetch_deepmimic(dst, report=report)
    if isaaclab:
        written += fetch_isaaclab(dst, report=report)
    return written


# ---------------------------------------------------------------- licences


def _required_files(folder: Path, pattern: str, clips: tuple[str, ...]) -> dict[str, Path]:
    files = {clip: folder / pattern.format(clip=clip) for clip in clips}
    missing = [str(path) for path in files.values() if not path.is_file()]
    if missing:
        raise ClipError(f"{folder}: expected clip files {missing} (named {pattern}), not found")
    return files


def _finish(kind: str, written: list[Path], dst: Path, report: Report) -> list[Path]:
    source = SOURCES[kind]
    report(f"{source.title}: {source.licence}. {source.notice} Source: {source.origin}")
    write_sources_file(dst)
    return written


def write_sources_file(dst: Path) -> Path:
    """SOURCES.md listing every source folder present in the clip folder, with its licence."""
    sections = ["# Reference clips in this folder\n", "Converted by `ampbench data fetch`; licences below.\n"]
    for source in SOURCES.values():
        clips = sorted(path.name for path in (dst / source.folder).glob("*.npz"))
        if clips:
            sections.append(
                f"\n## {source.folder}/: {source.title}\n\n- origin: {source.origin}\n"
                f"- licence: {source.licence}\n- notice: {source.notice}\n- files: {', '.join(clips)}\n"
            )
    path = dst / "SOURCES.md"
    path.write_text("".join(sections))
    return path
