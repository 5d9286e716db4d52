#!/usr/bin/env bash
# Make the `debian:trixie-slim` base image from Debian's own packages, for machines that cannot pull
# from an image registry. The Dockerfiles say `FROM debian:trixie-slim` and build unchanged on it.
#
#   docker/local-base.sh [--engine podman|docker] [--tag debian:trixie-slim]
#   docker/local-base.sh --python-from ~/.pyenv/versions/3.12.1     # a python:3.12-slim stand-in
#
# Needs mmdebstrap and access to a Debian archive (MIRROR, default http://deb.debian.org/debian).
# Debian ships no Python 3.12 (Isaac Lab 3 needs it), so --python-from copies a Python 3.12 installed on
# this machine (standard library only, no site-packages) into /usr/local of a bookworm base with the
# libraries it links against, where python:3.12-slim has its Python, and tags it python:3.12-slim for
# docker/isaaclab.Dockerfile. Python finds its library from its own location, so the copy runs there.
#
# Certificates: where outbound HTTPS passes through a proxy that re-signs it with its own certificate
# authority, pip inside an image build fails with CERTIFICATE_VERIFY_FAILED unless the image trusts what
# this machine trusts. So the base gets this machine's extra CA certificates (the ones under
# /usr/local/share/ca-certificates, added to the image's bundle by update-ca-certificates) and
# SSL_CERT_FILE, REQUESTS_CA_BUNDLE and PIP_CERT pointing at that bundle. On a machine without such a
# proxy there are no extra certificates and the bundle is Debian's. This is the one place that knows about
# it: the Dockerfiles stay the same for an image pulled from Docker Hub.
set -euo pipefail

ENGINE=""
TAG=""
SUITE="trixie"
PYTHON_FROM=""
INCLUDE="ca-certificates"
# What a Python built from source (pyenv) links against, as bookworm packages.
PYTHON_LIBS="libssl3,libffi8,libsqlite3-0,libreadline8,libncursesw6,liblzma5,libbz2-1.0,zlib1g,libuuid1,libexpat1,libcrypt1,libnsl2"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
EXTRA_CA_DIR="/usr/local/share/ca-certificates"
BUNDLE="/etc/ssl/certs/ca-certificates.crt"

while [ $# -gt 0 ]; do
  case "$1" in
    --engine) ENGINE="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    --python-from) PYTHON_FROM="$(cd "$2" && pwd)"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "local-base.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

hooks=()
if [ -n "$PYTHON_FROM" ]; then
  if ! "$PYTHON_FROM/bin/python3.12" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    echo "local-base.sh: $PYTHON_FROM/bin/python3.12 is not a Python 3.12" >&2
    exit 1
  fi
  SUITE="bookworm"
  TAG="${TAG:-python:3.12-slim}"
  INCLUDE="$INCLUDE,$PYTHON_LIBS"
  hooks+=(--customize-hook="tar -C $PYTHON_FROM --exclude='./lib/python3.12/site-packages/*' -cf - bin/python3.12 lib include | tar -C \"\$1/usr/local\" -xf -")
  hooks+=(--customize-hook="for name in python3 python; do ln -sf python3.12 \"\$1/usr/local/bin/\$name\"; done")
  hooks+=(--customize-hook='chroot "$1" ldconfig')  # libpython3.12.so from /usr/local/lib
fi
TAG="${TAG:-debian:trixie-slim}"

if [ -z "$ENGINE" ]; then
  for candidate in podman docker; do
    if command -v "$candidate" >/dev/null; then ENGINE="$candidate"; break; fi
  done
fi
if [ -z "$ENGINE" ] || ! command -v "$ENGINE" >/dev/null; then
  echo "local-base.sh: no container engine found; install podman (apt-get install podman buildah runc) or docker" >&2
  exit 1
fi
if ! command -v mmdebstrap >/dev/null; then
  echo "local-base.sh: mmdebstrap not found; install it (apt-get install mmdebstrap)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/ca"
if [ -d "$EXTRA_CA_DIR" ]; then
  find "$EXTRA_CA_DIR" -name '*.crt' -exec cp {} "$work/ca/" \;
fi
echo "local-base.sh: $SUITE from $MIRROR with $(find "$work/ca" -name '*.crt' | wc -l) extra CA certificate(s)"

# minbase + ca-certificates; apt lists and caches are left out as in the Docker Hub slim images.
mmdebstrap --variant=minbase --include="$INCLUDE" "${hooks[@]}" \
  --customize-hook="mkdir -p \"\$1$EXTRA_CA_DIR\" && cp -r $work/ca/. \"\$1$EXTRA_CA_DIR/\"" \
  --customize-hook='chroot "$1" update-ca-certificates' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  "$SUITE" "$work/base.tar" "$MIRROR"

"$ENGINE" import \
  --change "ENV SSL_CERT_FILE=$BUNDLE" \
  --change "ENV REQUESTS_CA_BUNDLE=$BUNDLE" \
  --change "ENV PIP_CERT=$BUNDLE" \
  --change 'CMD ["bash"]' \
  "$work/base.tar" "$TAG"
echo "local-base.sh: made $TAG"
