# One image for the auth service, the resource service and the migration job,
# with a build target each (they share every layer but the last):
#
#   docker build --target auth     -t svc/auth .
#   docker build --target resource -t svc/resource .
#   docker build --target migrate  -t svc/migrate .
#
# Builds with the classic builder too (no BuildKit-only syntax). Nothing
# secret is ever copied in: database passwords and the signing key arrive at
# run time as secret files under /run/secrets (see docker-compose.yml).

ARG PYTHON_IMAGE=python:3.11-slim

# --- builder: the hashed third-party wheels, then our own packages -------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/base.txt requirements/build.txt requirements/
# Wheels only, each checked against its hash in the lock: nothing is compiled,
# so the builder needs no compiler either. The build backend (hatchling,
# pinned and hashed too) lives in a venv of its own that never ships.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --only-binary=:all: --require-hashes --no-deps -r requirements/base.txt \
    && python -m venv /opt/build \
    && /opt/build/bin/pip install --only-binary=:all: --require-hashes --no-deps -r requirements/build.txt
COPY pyproject.toml ./
COPY services ./services
COPY migrations ./migrations
# Our one wheel (kit, both services, the migration job), installed without
# dependencies: everything it needs came from the lock above. pip itself is
# not needed at run time: remove it from the venv.
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels . \
    && /opt/venv/bin/pip install --no-deps --no-index /tmp/wheels/*.whl \
    && /opt/venv/bin/python -m pip uninstall --yes --quiet setuptools pip \
    && rm -rf /tmp/wheels /root/.cache

# --- app: the runtime everything below shares -----------------------------------
FROM ${PYTHON_IMAGE} AS app
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HOST=0.0.0.0 \
    PORT=8000 \
    WEB_CONCURRENCY=2 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
# The venv holds the code too (installed, byte-compiled by pip at build time:
# the containers run with a read-only root and PYTHONDONTWRITEBYTECODE).
COPY --from=builder /opt/venv /opt/venv
# The git revision built (the deploy workflow passes it): build_info on
# /metrics and the image's label. After the code, so it invalidates no layer.
ARG GIT_REVISION=unknown
ENV GIT_REVISION=${GIT_REVISION}
LABEL org.opencontainers.image.revision=${GIT_REVISION}
WORKDIR /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ.get('PORT', '8000'), timeout=2)"]

# --- per-service targets ------------------------------------------------------------
FROM app AS migrate
ENV SERVICE_NAME=migrate
HEALTHCHECK NONE
CMD ["python", "-m", "migrations"]

FROM app AS resource
ENV SERVICE_NAME=resource
CMD ["gunicorn", "-c", "python:servicekit.gunicorn_conf", "resource_service.main:app"]

# The last stage is the default target.
FROM app AS auth
ENV SERVICE_NAME=auth
CMD ["gunicorn", "-c", "python:servicekit.gunicorn_conf", "auth_service.main:app"]
