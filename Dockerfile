# syntax=docker/dockerfile:1
#
# migration-app worker image. Two stages: `build` turns the project and its dependencies into
# wheels; the runtime stage installs only those wheels (no compiler, no pip cache, no wheel files
# left behind) and runs as a non-root numeric user, so `runAsNonRoot` can be verified by the
# kubelet without a /etc/passwd lookup.
#
#   docker build -t registry.example.com/crm/migration-app:0.1.0 .
#
# Every dependency ships binary wheels for CPython 3.11 on manylinux, so neither stage needs
# build-essential; if a future dependency needs a compiler, add it to the build stage only.

FROM python:3.11.13-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY migration_app ./migration_app
# The project's runtime dependencies only: the `dev` extra (pytest, ruff, ...) stays out.
RUN pip wheel --wheel-dir /wheels .


FROM python:3.11.13-slim-bookworm AS runtime

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    MIGRATION_DATA_DIR=/var/lib/migration-app \
    MIGRATION_WEB_PORT=6066 \
    MIGRATION_LOG_LEVEL=info

# The wheels are bind-mounted from the build stage, never copied, so no layer keeps them.
# pip byte-compiles while installing: the root filesystem is read-only at run time.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels /wheels/migration_app-*.whl \
    && groupadd --system --gid 10001 migration \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin migration \
    && mkdir -p /var/lib/migration-app \
    && chown 10001:10001 /var/lib/migration-app

WORKDIR /var/lib/migration-app
# Numeric, and the same as runAsUser in deploy/k8s (a test compares them).
USER 10001:10001

# Faust web views: /health/live, /health/ready, /metrics, /migrations/... (aiomonitor's ports
# 50101/50102/50201 bind 127.0.0.1 and are deliberately not exposed: use `kubectl port-forward`).
EXPOSE 6066

# Faust's worker treats SIGTERM as "stop gracefully": finish the batch, commit offsets, leave
# the consumer group. Kubernetes sends SIGTERM too, then waits terminationGracePeriodSeconds.
STOPSIGNAL SIGTERM

# Kubernetes ignores HEALTHCHECK (its probes do this job); this is for `docker run` and compose.
# Slim images have no curl, so the check is a few lines of urllib with its own timeout.
# start-period covers table recovery from the changelog topics.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('MIGRATION_WEB_PORT', '6066') + '/health/live', timeout=4).close()"]

# `sh -c` only expands the log level, then `exec` replaces the shell so the worker is PID 1 and
# receives SIGTERM itself. Extra container args are appended to the worker's command line.
# Other commands: `docker run --entrypoint migration-app IMAGE preflight`.
ENTRYPOINT ["/bin/sh", "-c", "exec migration-app worker -l \"${MIGRATION_LOG_LEVEL:-info}\" \"$@\"", "migration-app"]
