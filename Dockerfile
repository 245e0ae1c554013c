# One image for every designsvc service: the API (`designsvc serve`) and the Celery workers
# (`designsvc worker`). docker-compose.yml builds it once and runs it with different commands.
#
#   docker build -t designsvc .
#   docker run --rm -p 8000:8000 designsvc serve --host 0.0.0.0          # embedded mode
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Solver backends and BLAS: one thread per job unless a spec asks for more.
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    DESIGNSVC_DATA_DIR=/data

# torch first, from the CPU wheel index, so the project's pin (torch==2.13.0) is already
# satisfied and pip does not pull the CUDA build from PyPI. The gpu worker uses CUDA when the
# host's driver exposes a device (NVIDIA Container Toolkit) and a CUDA build is installed;
# swap the index URL for a CUDA one (e.g. .../whl/cu126) to build a GPU image.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

WORKDIR /app
COPY pyproject.toml README.md LICENSE ./
COPY designsvc ./designsvc
COPY problems ./problems
COPY solvers ./solvers
COPY surrogates ./surrogates
COPY workers ./workers
RUN pip install . \
    && useradd --create-home --uid 10001 designsvc \
    && mkdir -p /data \
    && chown designsvc /data

USER designsvc
VOLUME ["/data"]
EXPOSE 8000
ENTRYPOINT ["designsvc"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
