"""The CPU device split asked of XLA before JAX starts, and how the trainer shares envs over devices."""

import pytest

from ampbench import cpu_devices
from ampbench.learning.trainer import split_count

FLAG = "--xla_force_host_platform_device_count"


def test_one_device_per_core_by_default():
    environ = {}
    assert cpu_devices.request(environ) == cpu_devices.cores()
    assert environ["XLA_FLAGS"] == f"{FLAG}={cpu_devices.cores()}"


def test_the_variable_sets_the_count_and_other_xla_flags_stay():
    environ = {"AMPBENCH_CPU_DEVICES": "3", "XLA_FLAGS": "--xla_dump_to=/tmp/x"}
    assert cpu_devices.request(environ) == 3
    assert environ["XLA_FLAGS"] == f"--xla_dump_to=/tmp/x {FLAG}=3"


def test_a_count_already_in_xla_flags_wins():
    environ = {"AMPBENCH_CPU_DEVICES": "3", "XLA_FLAGS": f"{FLAG}=5"}
    assert cpu_devices.request(environ) == 5
    assert environ["XLA_FLAGS"] == f"{FLAG}=5"


@pytest.mark.parametrize("raw", ["0", "two", "-1"])
def test_a_bad_count_names_the_variable(raw):
    with pytest.raises(ValueError, match=r"\$AMPBENCH_CPU_DEVICES=.*whole number of CPU devices >= 1"):
        cpu_devices.request({"AMPBENCH_CPU_DEVICES": raw})


@pytest.mark.parametrize(
    ("envs", "devices", "count"), [(256, 2, 2), (4096, 16, 16), (6, 4, 3), (7, 2, 1), (16, 1, 1), (3, 8, 3)]
)
def test_envs_are_shared_by_the_most_devices_that_divide_them(envs, devices, count):
    assert split_count(envs, devices) == count
