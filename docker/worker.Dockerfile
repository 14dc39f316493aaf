# A training worker on a CUDA PyTorch base (torch and torchvision come with it).
# One run per GPU: the threads pool with concurrency 1 never forks after CUDA init.
FROM pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RESULTS_DIR=/results DATA_DIR=/data TRAINBOARD_DEVICE=auto
RUN useradd --create-home --uid 10001 trainboard \
    && mkdir -p /results /data && chown trainboard:trainboard /results /data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY worker ./worker
COPY web/__init__.py ./web/__init__.py
# Installs this project; its version ranges live in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[worker]"
USER 10001
CMD ["python", "-m", "worker"]
