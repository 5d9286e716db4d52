"""Kept traced programs are signed per user: one written here loads, and a planted pickle in the cache
folder is never unpickled (deleted, the program traced again)."""

from __future__ import annotations

import pickle

import jax
import jax.numpy as jnp
import pytest

from ampbench.core import compile_cache, program_cache


class Payload:
    """Unpickling this writes a marker file: the proof a planted file was (or was not) loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    before = jax.config.jax_compilation_cache_dir
    compile_cache.enable(tmp_path / "jax")
    yield tmp_path
    jax.config.update("jax_compilation_cache_dir", before)


def program() -> program_cache.CachedProgram:
    return program_cache.CachedProgram("double", lambda x: {"y": 2 * x}, env_key="test", static_key="")


def test_a_signed_program_loads_and_a_planted_pickle_is_never_run(cache):
    x = jnp.arange(3.0)
    assert program()(x)["y"].tolist() == [0.0, 2.0, 4.0]
    (kept,) = (cache / "jax" / "programs").glob("double-*.bin")
    loaded = program_cache.counts()["loaded"]
    assert program()(x)["y"].tolist() == [0.0, 2.0, 4.0]
    assert program_cache.counts()["loaded"] == loaded + 1
    assert oct(program_cache.signing_key_path().stat().st_mode & 0o777) == "0o600"

    marker = cache / "planted-ran"
    kept.write_bytes(pickle.dumps(Payload(str(marker))))
    traced = program_cache.counts()["traced"]
    with pytest.warns(
        UserWarning, match=r"double-.*\.bin: not loaded, traced again \(not signed with this user's key\)"
    ):
        assert program()(x)["y"].tolist() == [0.0, 2.0, 4.0]
    assert not marker.exists()
    assert program_cache.counts()["traced"] == traced + 1
