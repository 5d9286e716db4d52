"""What the offline bundle takes along: every resolved package the target lacks, nothing it has."""

from __future__ import annotations

import pytest

from ampbench.pipeline.offline import installed_names, missing_requirements, normalized


def test_names_are_compared_in_their_normal_form():
    assert normalized("Typing_Extensions") == normalized("typing-extensions") == "typing-extensions"
    assert normalized("ml.dtypes") == "ml-dtypes"


def test_freeze_lines_give_package_names():
    freeze = """# pip freeze of the GPU node
jax==0.11.2
jax-cuda13-plugin==0.11.2
PyYAML==6.0.4
torch @ file:///wheels/torch-2.11.0-cp312-linux_x86_64.whl
-e git+https://example.org/x.git#egg=x

"""
    assert installed_names(freeze) == {"jax", "jax-cuda13-plugin", "pyyaml", "torch"}


def test_a_line_without_a_name_is_refused():
    with pytest.raises(ValueError, match=r"'==1\.0'"):
        installed_names("==1.0")


def test_only_what_the_target_lacks_is_gathered():
    report = {
        "install": [
            {"metadata": {"name": name, "version": version}}
            for name, version in [
                ("ampbench", "0.1.0"),
                ("jax", "0.12.0.1"),
                ("mujoco", "3.17.0"),
                ("mujoco-mjx", "3.17.0"),
                ("Pydantic", "2.14.4"),
                ("PyYAML", "6.0.4"),
            ]
        ]
    }
    have = {"jax", "pyyaml"}
    assert missing_requirements(report, have) == ["Pydantic==2.14.4", "mujoco-mjx==3.17.0", "mujoco==3.17.0"]
