# One image for every role: `watchparty serve`, `watchparty worker`, `watchparty migrate`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATA_DIR=/data

WORKDIR /app

# ffmpeg/ffprobe for video processing (the worker); boto3 for STORAGE_BACKEND=s3.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first (a layer that survives code changes), then the code. The project is
# installed in place (-e) because `watchparty migrate` reads alembic.ini and alembic/ next to
# the package.
COPY pyproject.toml README.md ./
RUN mkdir watchparty && touch watchparty/__init__.py \
    && pip install -e '.[s3]' \
    && rm -rf watchparty
COPY alembic.ini schema.graphql ./
COPY alembic ./alembic
COPY watchparty ./watchparty
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app watchparty \
    && mkdir -p /data && chown watchparty /data

USER watchparty
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["watchparty", "serve", "--host", "0.0.0.0", "--port", "8000"]
