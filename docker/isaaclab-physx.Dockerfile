# ampbench on Isaac Lab with Isaac Sim (PhysX), for users who have NVIDIA's Isaac Lab image (NGC,
# nvcr.io, which needs an NGC account and an RTX GPU). Built on that image, it adds only ampbench and
# its JAX trainer to Isaac Lab's own Python; Isaac Lab, Isaac Sim and torch stay as NVIDIA ships them.
#   docker build -f docker/isaaclab-physx.Dockerfile -t ampbench-isaaclab-physx .
# Not built by CI or nox here (no registry access on the CI machine): hadolint checks it.
ARG BASE=nvcr.io/nvidia/isaac-lab:3.0.0
FROM ${BASE}

# The image's Isaac Sim Python (3.12), which has Isaac Lab installed.
ENV ISAAC_PYTHON=/isaac-sim/python.sh \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/ampbench
COPY pyproject.toml README.md ./
COPY mjcf mjcf
COPY benchmarks benchmarks
COPY src src
# The learning extra's exact pins; isaaclab itself is the image's, so it is not reinstalled.
# hadolint ignore=DL3013
RUN ${ISAAC_PYTHON} -m pip install ".[learning]" "mujoco-usd-converter==0.6.1" \
    && rm -rf src build

ENV WARP_CACHE_PATH=/cache/warp \
    JAX_COMPILATION_CACHE_DIR=/cache/xla \
    AMPBENCH_CACHE=/cache/ampbench \
    AMPBENCH_DATA=/opt/ampbench/data/clips
RUN mkdir -p /cache/warp /cache/xla /cache/ampbench data/clips results runs \
    && chmod 1777 /cache/warp /cache/xla /cache/ampbench data/clips results runs
VOLUME ["/cache/warp", "/cache/xla", "/cache/ampbench"]

ARG COMMIT=unknown
ENV AMPBENCH_COMMIT=$COMMIT
LABEL org.opencontainers.image.source="ampbench" \
      org.opencontainers.image.revision=$COMMIT

ENTRYPOINT ["/isaac-sim/python.sh", "-m", "ampbench.cli"]
CMD ["--help"]
