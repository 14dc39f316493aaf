# Stand-in for pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime: the Python stand-in plus
# torch 2.14.1 / torchvision 0.29.1 (CUDA builds that also run on the CPU), installed
# from wheels downloaded on the host (bind-mounted: they do not stay in a layer).
FROM python:3.11.11-slim-bookworm
RUN --mount=type=bind,source=wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels torch==2.14.1 torchvision==0.29.1
