# ampbench on MuJoCo MJX (and MuJoCo C beside it): the image `nox -s build` makes and the phase sessions
# train in. Build from the repository root:
#   docker build -f docker/mjx.Dockerfile --build-arg JAX=cuda12 -t ampbench-mjx .
# JAX=cpu (default) runs anywhere; JAX=cuda12 or cuda13 adds JAX's CUDA build (the NVIDIA libraries come
# as wheels, so no CUDA base image is needed; the host needs its driver and the NVIDIA container toolkit)
# and MJX's Warp implementation, the one MuJoCo recommends on NVIDIA GPUs.
ARG BASE=debian:trixie-slim
FROM ${BASE}

# Debian's python3 (3.13 in trixie; the MJX path runs on it). The suite is the pin: a stable release only
# takes security and point updates, and exact versions vanish from the archive when superseded.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv

WORKDIR /opt/ampbench

# The pinned dependencies first, in a layer that changes only with pyproject.toml: the package is
# installed from an empty source tree here and replaced by the real one below. The versions are
# pyproject.toml's (exact pins for JAX, Flax, Optax, MuJoCo and MJX), not repeated here.
COPY pyproject.toml README.md ./
# hadolint ignore=DL3013
RUN mkdir -p src/ampbench mjcf benchmarks \
    && touch src/ampbench/__init__.py \
    && pip install ".[mjx]" \
    && rm -rf src

# GPU builds: JAX's CUDA plugin at the jax pin of pyproject.toml, and MJX's Warp implementation at the
# mujoco-mjx pin; warp-lang is the version that extra resolved to with mujoco-mjx 3.17.0.
ARG JAX=cpu
ARG WARP_LANG=1.18.0
RUN case "$JAX" in \
      cpu) ;; \
      cuda12|cuda13) \
        pin() { python -c "from importlib.metadata import version; print(version('$1'))"; } \
        && pip install "jax[$JAX]==$(pin jax)" "mujoco-mjx[warp]==$(pin mujoco-mjx)" "warp-lang==$WARP_LANG" ;; \
      *) echo "JAX must be cpu, cuda12 or cuda13, not $JAX" >&2; exit 1 ;; \
    esac

COPY mjcf mjcf
COPY benchmarks benchmarks
COPY src src
RUN pip install --no-deps --force-reinstall . \
    && rm -rf src build

# Compilation caches live in volumes, so a second run skips XLA compiling and Warp kernel builds; the
# runner mounts host folders here. Any user may write them (the runner runs as the host user's id).
# ampbench's own download cache (clip sources) sits beside them.
ENV JAX_COMPILATION_CACHE_DIR=/cache/xla \
    WARP_CACHE_PATH=/cache/warp \
    AMPBENCH_CACHE=/cache/ampbench \
    MPLCONFIGDIR=/tmp/matplotlib \
    AMPBENCH_DATA=/opt/ampbench/data/clips
RUN mkdir -p /cache/xla /cache/warp /cache/ampbench data/clips results runs \
    && chmod 1777 /cache/xla /cache/warp /cache/ampbench data/clips results runs \
    && useradd --create-home --uid 1000 --shell /usr/sbin/nologin ampbench
VOLUME ["/cache/xla", "/cache/warp", "/cache/ampbench"]

# The commit the image was built from (with -dirty for a tree with uncommitted changes): run folders
# and score files record it, since the image holds no git checkout.
ARG COMMIT=unknown
ENV AMPBENCH_COMMIT=$COMMIT
LABEL org.opencontainers.image.source="ampbench" \
      org.opencontainers.image.revision=$COMMIT

USER 1000:1000
ENTRYPOINT ["ampbench"]
CMD ["--help"]
