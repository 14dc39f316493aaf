# The web tier: Flask-SocketIO + eventlet, no torch. Front-end libraries come from
# the npm lockfile in a build stage; only node_modules' dist files are copied on.
FROM node:20.18-bookworm-slim AS frontend
WORKDIR /build
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RESULTS_DIR=/results WEB_HOST=0.0.0.0 WEB_PORT=8000
RUN useradd --create-home --uid 10001 trainboard \
    && mkdir -p /results && chown trainboard:trainboard /results
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY web ./web
# Installs this project; its version ranges live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[web]"
COPY --from=frontend /build/node_modules ./web/node_modules
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["python", "-m", "web"]
