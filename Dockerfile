# The serving image: the decision service with the shipped model, no torch.
#   docker build -t abr-service .
#   docker run --rm -p 8000:8000 abr-service
# GPU image (onnxruntime-gpu on a CUDA runtime base; run with --gpus all):
#   docker build -t abr-service:gpu --build-arg BASE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 \
#     --build-arg ONNXRUNTIME=onnxruntime-gpu .
ARG BASE=python:3.11-slim
FROM ${BASE}

ARG ONNXRUNTIME=onnxruntime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_BREAK_SYSTEM_PACKAGES=1 ABR_SESSION_TTL_S=300

# CUDA bases come without python; the slim base has it.
RUN command -v python3 >/dev/null || (apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip \
    && rm -rf /var/lib/apt/lists/* && ln -s /usr/bin/python3 /usr/local/bin/python)

WORKDIR /app
COPY pyproject.toml README.md ./
COPY abr ./abr
COPY service ./service
# The base install is the serving install (no torch); swap in onnxruntime-gpu when asked.
RUN python3 -m pip install . \
    && if [ "$ONNXRUNTIME" != "onnxruntime" ]; then \
         python3 -m pip uninstall -y onnxruntime && python3 -m pip install "$ONNXRUNTIME"; \
       fi \
    && python3 -c "import sys, abr.policies.onnx, service.app; assert 'torch' not in sys.modules"

RUN useradd --system --uid 10001 --no-create-home abr
USER abr
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
CMD ["abr", "serve", "--host", "0.0.0.0", "--port", "8000"]
