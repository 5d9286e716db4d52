# ampbench on Isaac Lab without Isaac Sim: Isaac Lab 3's kit-less Newton physics (MuJoCo-Warp solver),
# the path that installs from PyPI alone. Build from the repository root:
#   docker build -f docker/isaaclab.Dockerfile -t ampbench-isaaclab .
# Isaac Lab 3.0 needs Python 3.12. It is large (torch with its CUDA wheels; about 8 GB), GPU or CPU.
# With Isaac Sim and PhysX, use docker/isaaclab-physx.Dockerfile instead.
ARG BASE=python:3.12-slim
FROM ${BASE}

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv

WORKDIR /opt/ampbench

# The pinned dependencies first, in a layer that changes only with pyproject.toml (its isaaclab extra
# pins isaaclab[skrl]==3.0.0, which pins torch, newton, warp-lang and mujoco; learning pins the JAX
# trainer); mujoco-usd-converter turns the project's MJCF into the USD Isaac Lab spawns.
COPY pyproject.toml README.md ./
# hadolint ignore=DL3013
RUN mkdir -p src/ampbench mjcf benchmarks \
    && touch src/ampbench/__init__.py \
    && pip install ".[learning,isaaclab]" "mujoco-usd-converter==0.6.1" \
    && rm -rf src

COPY mjcf mjcf
COPY benchmarks benchmarks
COPY src src
RUN pip install --no-deps --force-reinstall . \
    && rm -rf src build

# Warp's kernel cache (Newton compiles its kernels on first use) and the converted USD in volumes, so a
# second run starts without recompiling; the runner mounts host folders here.
ENV WARP_CACHE_PATH=/cache/warp \
    JAX_COMPILATION_CACHE_DIR=/cache/xla \
    AMPBENCH_CACHE=/cache/ampbench \
    MPLCONFIGDIR=/tmp/matplotlib \
    AMPBENCH_DATA=/opt/ampbench/data/clips
RUN mkdir -p /cache/warp /cache/xla /cache/ampbench data/clips results runs \
    && chmod 1777 /cache/warp /cache/xla /cache/ampbench data/clips results runs \
    && useradd --create-home --uid 1000 --shell /usr/sbin/nologin ampbench
VOLUME ["/cache/warp", "/cache/xla", "/cache/ampbench"]

ARG COMMIT=unknown
ENV AMPBENCH_COMMIT=$COMMIT
LABEL org.opencontainers.image.source="ampbench" \
      org.opencontainers.image.revision=$COMMIT

USER 1000:1000
ENTRYPOINT ["ampbench"]
CMD ["--help"]
