# spendwatch in a container: `docker build -t spendwatch .` then
#   docker run --rm -v "$PWD/exports:/data/exports" -e SPENDWATCH_CONFIG=/data/spendwatch.yml \
#     spendwatch ingest /data/exports
# The bot itself (HTTP mode behind a load balancer; Socket Mode needs no port):
#   docker run -p 3000:3000 -v "$PWD:/data" -e SPENDWATCH_CONFIG=/data/spendwatch.yml \
#     -e SLACK_BOT_TOKEN -e SLACK_SIGNING_SECRET spendwatch run
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    SPENDWATCH_PLAYBOOKS=/app/playbooks
WORKDIR /app

COPY pyproject.toml README.md ./
COPY bot ./bot
COPY storage ./storage
COPY playbooks ./playbooks
RUN pip install ".[postgres]" \
    && useradd --create-home --uid 10001 spendwatch \
    && mkdir -p /data && chown spendwatch /data

USER spendwatch
WORKDIR /data
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c \
    "import urllib.request; urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=2)" \
    || exit 1
ENTRYPOINT ["spendwatch"]
CMD ["--help"]
