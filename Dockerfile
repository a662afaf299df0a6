# spendwatch in a container: `docker build -t spendwatch .` then
#   docker run --rm -v "$PWD/exports:/data/exports" -e SPENDWATCH_CONFIG=/data/spendwatch.yml \
#     spendwatch ingest /data/exports
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
RUN pip install ".[postgres]" \
    && useradd --create-home --uid 10001 spendwatch \
    && mkdir -p /data && chown spendwatch /data

USER spendwatch
WORKDIR /data
ENTRYPOINT ["spendwatch"]
CMD ["--help"]
