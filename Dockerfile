# Enlarger's container image (docs/operations.md#the-container-image).
#
# Two stages: the first builds the project into a virtual environment (every native part —
# libvips, onnxruntime, libjxl, c2pa — comes as a manylinux wheel, so no compiler or -dev
# package is needed); the second copies only that environment onto the same slim base.
# Pinned to a Python minor and a Debian release, never `latest`: rebuilding picks up security
# patches of that line and nothing else.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/enlarger
COPY pyproject.toml README.md ./
COPY src ./src
# s3: originals in S3-compatible storage; postgres: the catalog in PostgreSQL; otel: traces
RUN /opt/enlarger/bin/pip install ".[s3,postgres,otel]"

FROM ${PYTHON_IMAGE}
# onnxruntime links the C++ runtime and OpenMP; both are a few hundred KiB
RUN apt-get update \
    && apt-get install --yes --no-install-recommends libstdc++6 libgomp1 \
    && rm -rf /var/lib/apt/lists/*
# a fixed, unprivileged uid/gid (10001) so a mounted volume's ownership can be set to match
RUN groupadd --system --gid 10001 enlarger \
    && useradd --system --uid 10001 --gid enlarger --home-dir /data --no-create-home --shell /usr/sbin/nologin enlarger \
    && mkdir /data && chown enlarger:enlarger /data
COPY --from=build /opt/enlarger /opt/enlarger
ENV PATH=/opt/enlarger/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ENLARGER_HOST=0.0.0.0 \
    ENLARGER_PORT=8080 \
    ENLARGER_DATA_DIR=/data
# the output cache, the SQLite catalog, local originals and <data_dir>/origin live here
VOLUME ["/data"]
USER enlarger:enlarger
WORKDIR /data
EXPOSE 8080
# liveness: the process answers. Orchestrators should also probe GET /readyz (catalog reachable,
# cache directory present) before sending traffic: see docs/operations.md.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('ENLARGER_PORT', '8080')}/healthz\", timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["enlarger"]
CMD ["serve"]
