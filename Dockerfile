# spendwatch's image: Debian bookworm's own Python 3.11 in a virtual environment, so the base
# can be bootstrapped from Debian's packages where no registry is reachable
# (scripts/container-check does that, builds, and runs the demo and the web server).
#
#   podman build --pull=never -t spendwatch .      (or docker build -t spendwatch .)
#   podman run --rm spendwatch demo
#   podman run -p 3000:3000 -v "$PWD:/data" -e SPENDWATCH_CONFIG=/data/spendwatch.yml \
#     -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET spendwatch run
#
# Behind a proxy with its own CA, pass the host's bundle at build time only:
#   --build-arg PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
#   -v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro
ARG BASE=docker.io/library/debian:bookworm-slim

# -- build: the package and its dependencies in /opt/spendwatch ---------------------------------
FROM ${BASE} AS build
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# A registry's debian:bookworm-slim has no Python; a bootstrapped one has it already.
# Versions are Debian stable's, which only takes security fixes: pinning them would break
# the build at the next fix, not make it more repeatable.
# hadolint ignore=DL3008
RUN if ! python3 -c "import venv, ensurepip" 2>/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && python3 -m venv /opt/spendwatch
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN /opt/spendwatch/bin/pip install --no-compile ".[postgres]" \
    && /opt/spendwatch/bin/python -m compileall -q /opt/spendwatch/lib

# -- run: the interpreter, the environment and the playbooks; no compiler, no pip cache --------
FROM ${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN if ! command -v python3 >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends python3 ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && groupadd --gid 10001 spendwatch \
    && useradd --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin spendwatch \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /opt/spendwatch /opt/spendwatch
COPY playbooks /opt/spendwatch/playbooks
ENV PATH=/opt/spendwatch/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    SPENDWATCH_PLAYBOOKS=/opt/spendwatch/playbooks \
    MPLCONFIGDIR=/tmp/matplotlib
USER 10001:10001
WORKDIR /data
EXPOSE 3000
# the port `spendwatch run` listens on: --port, else SPENDWATCH_PORT, else 3000
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 CMD ["python3", "-c", \
    "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SPENDWATCH_PORT', '3000'), timeout=2)"]
ENTRYPOINT ["spendwatch"]
CMD ["--help"]
