#!/usr/bin/env bash
# Make the `debian:trixie-slim` base image from Debian's own packages, for machines that cannot pull
# from an image registry. The Dockerfiles say `FROM debian:trixie-slim` and build unchanged on it.
#
#   docker/local-base.sh [--engine podman|docker] [--tag debian:trixie-slim]
#
# Needs mmdebstrap and access to a Debian archive (MIRROR, default http://deb.debian.org/debian).
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
TAG="debian:trixie-slim"
SUITE="trixie"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
EXTRA_CA_DIR="/usr/local/share/ca-certificates"
BUNDLE="/etc/ssl/certs/ca-certificates.crt"

while [ $# -gt 0 ]; do
  case "$1" in
    --engine) ENGINE="$2"; shift 2 ;;
    --tag) TAG="$2"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "local-base.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

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
mmdebstrap --variant=minbase --include=ca-certificates \
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
