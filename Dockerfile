# syntax=docker/dockerfile:1
# Images of the wallet service (docker-compose.yml builds both):
#
#   app (the default target)  `wallet serve` on port 3000, as an unprivileged user; the same
#                             image runs `wallet migrate`, `wallet seed`, `wallet keys ...`
#   postgres                  PostgreSQL 17 with pgTAP and pg_prove, for the sqltest profile
#
# The app's runtime dependencies come from requirements-runtime.lock (the runtime part of
# requirements.lock, same pins, same hashes), installed with --require-hashes; only the virtual
# environment leaves the build stage.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# PostgreSQL 17 with the pgTAP extension and pg_prove. The official image carries the PGDG
# apt repository, whose versions move on: pinning one would break the build when it goes.
FROM postgres:17-bookworm AS postgres
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-17-pgtap libtap-parser-sourcehandler-pgtap-perl \
    && rm -rf /var/lib/apt/lists/*

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/wallet
# the dependencies first, so that a change to the code does not reinstall them
COPY requirements-runtime.lock /tmp/requirements-runtime.lock
RUN /opt/wallet/bin/pip install --require-hashes -r /tmp/requirements-runtime.lock
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
COPY db ./db
# the package alone (its build backend is fetched for this step only): the wheel carries db/
RUN /opt/wallet/bin/pip install --no-deps . \
    && /opt/wallet/bin/python -m compileall -q /opt/wallet/lib

FROM ${PYTHON_IMAGE} AS app
RUN groupadd --system --gid 10001 wallet \
    && useradd --system --uid 10001 --gid wallet --no-create-home --shell /usr/sbin/nologin wallet
COPY --from=build /opt/wallet /opt/wallet
# WALLET_HOST: listen on every interface of the container (the default, 127.0.0.1, is for a
# development machine); the other settings come from the environment (docs/operations.md)
ENV PATH=/opt/wallet/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    WALLET_HOST=0.0.0.0 \
    WALLET_PORT=3000
# an empty working directory: `wallet` reads a .env from it, and there is none
WORKDIR /srv/wallet
# numeric, so that a runtime can tell it is not root without reading /etc/passwd
USER 10001:10001
EXPOSE 3000
# /health answers 200 when PostgreSQL answers (status "degraded" if only Redis is down: limits
# open, the ledger still guards every key) and 503 when it does not; no curl in a slim image
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('WALLET_PORT', '3000'), timeout=2)"]
# on SIGTERM (docker stop) Granian stops accepting and finishes the requests in flight
CMD ["wallet", "serve"]
