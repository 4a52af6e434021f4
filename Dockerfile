# baywatch: one image for `baywatch serve`, `baywatch watch` and `baywatch db upgrade`.
#
#   docker build -t baywatch .            (CPU-only: no CUDA libraries, ~2 GB instead of ~7.5)
#   docker compose up -d                  (see compose.yaml: PostGIS + migrations + serve + watch)
#
# Stage 1 installs the map's front-end libraries with npm (never a CDN); stage 2 builds a
# wheel that carries them (python -m api.vendoring); stage 3 is the runtime: python slim,
# CPU-only PyTorch from the PyTorch CPU index, the wheel, a non-root user.

FROM node:20-bookworm-slim AS web
WORKDIR /src/api/web
COPY api/web/package.json api/web/package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM python:3.11-slim-bookworm AS wheel
WORKDIR /src
COPY . .
COPY --from=web /src/api/web/node_modules api/web/node_modules
# Copies the pages' library files next to the pages (no third-party import needed).
RUN python -m api.vendoring
RUN pip wheel --no-deps -w /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    YOLO_OFFLINE=True YOLO_AUTOINSTALL=False YOLO_CONFIG_DIR=/tmp/ultralytics \
    BAYWATCH_DATA_DIR=/var/lib/baywatch
# OpenCV's wheel needs these two system libraries even headless.
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*
# Every version comes from requirements.lock (the versions CI tested), as constraints.
COPY requirements.lock /tmp/requirements.lock
# CPU-only PyTorch first, from PyTorch's CPU index, at the locked version (2.x+cpu meets
# ==2.x): otherwise ultralytics pulls the CUDA build from PyPI (several GB of GPU
# libraries a CPU server never loads); the lock's nvidia-* pins are then never needed.
RUN pip install -c /tmp/requirements.lock \
    --index-url https://download.pytorch.org/whl/cpu torch torchvision
COPY --from=wheel /wheels /wheels
RUN pip install -c /tmp/requirements.lock /wheels/*.whl && rm -rf /wheels /tmp/requirements.lock
RUN useradd --system --uid 10001 --home-dir /var/lib/baywatch --create-home baywatch
USER baywatch
WORKDIR /var/lib/baywatch
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]
ENTRYPOINT ["baywatch"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
