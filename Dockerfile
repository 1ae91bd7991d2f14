# The intake service: `docker build -t intake .`, then see docker-compose.yml and docs/production.md.
# Two stages so the image holds the installed wheel, not the source tree or the build tools.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY intake ./intake
RUN pip wheel --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    INTAKE_CONFIG=/etc/intake/intake.toml
# A non-editable install from the wheel built above, dependencies from the package index.
COPY --from=build /wheels /wheels
RUN pip install /wheels/*.whl && rm -rf /wheels

# The service never needs root: a system user owns the data folder and nothing else.
RUN groupadd --system --gid 10001 intake \
    && useradd --system --uid 10001 --gid intake --home-dir /var/lib/intake --shell /usr/sbin/nologin intake \
    && install -d -o intake -g intake -m 0750 /var/lib/intake
COPY deploy/intake.image.toml /etc/intake/intake.toml
COPY workflows /etc/intake/workflows
# Git keeps the script executable and COPY keeps its mode (no BuildKit-only --chmod needed).
COPY deploy/entrypoint.sh /usr/local/bin/intake-entrypoint

# The store (original bytes), the receipt outbox and, without PostgreSQL, the SQLite database.
VOLUME ["/var/lib/intake"]
# 8000: the staff web UI and /healthz; 2525: the SMTP receiver when receiver.enabled is true.
EXPOSE 8000 2525
USER intake
WORKDIR /var/lib/intake

# The slim image has no curl; Python's urllib is there. A 503 from /healthz raises and fails the check.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=8)"]

# The entrypoint migrates the database, then runs `intake` with the given arguments.
ENTRYPOINT ["intake-entrypoint"]
CMD ["serve"]
