# Stockroom's image: the project installed from its pyproject with the pinned versions (no dev
# extra), run as a non-root user. Build: docker build -t stockroom .
#
# No image is built in CI (no registry to pull the base from): tests/integration/
# test_deploy_files.py replays these steps in a temporary directory with a fresh venv and
# starts the CMD. Keep every step a plain RUN, COPY, ENV, WORKDIR, USER, EXPOSE or CMD.

FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/stockroom
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY domain domain
COPY adapters adapters
COPY service_layer service_layer
COPY entrypoints entrypoints
COPY migrations migrations
# Not editable: the code and the migrations land in the venv's site-packages; /src stays here.
RUN /opt/stockroom/bin/pip install --no-cache-dir -c constraints.txt .

FROM python:3.11-slim
COPY --from=build /opt/stockroom /opt/stockroom
# STOCKROOM_PRODUCTION: refuse to start without STOCKROOM_DATABASE_URL and STOCKROOM_SECRET_KEY
# rather than serve a local SQLite file with a generated key.
ENV PATH=/opt/stockroom/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STOCKROOM_PRODUCTION=true
# Empty and owned by root: no .env is read from it and nothing is written to it. The app writes
# only the workers' metrics, in a fresh folder under /tmp.
WORKDIR /app
# Numeric, so that Kubernetes can check runAsNonRoot.
USER 10001:10001
EXPOSE 8000
# Exec form: the server is the container's first process and gets SIGTERM itself (readiness
# 503 for STOCKROOM_DRAIN_SECONDS, then --graceful-timeout for requests in flight).
CMD ["stockroom", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
