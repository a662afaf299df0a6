# PostgreSQL 15 from Debian's packages on the same bootstrapped base as spendwatch's image, so
# deploy/compose.yml runs where no registry is reachable. Anywhere else, `postgres:15` will do.
ARG BASE=docker.io/library/debian:bookworm-slim
FROM ${BASE}
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Debian stable's versions take only security fixes; pinning them would break the next build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && groupmod --gid 999 postgres && usermod --uid 999 --gid 999 postgres \
    && mkdir -p /var/lib/postgresql/data /run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /run/postgresql
COPY --chmod=0755 deploy/postgres-start.sh /usr/local/bin/postgres-start
ENV PGDATA=/var/lib/postgresql/data PATH=/usr/lib/postgresql/15/bin:$PATH
USER 999:999
EXPOSE 5432
HEALTHCHECK --interval=5s --timeout=3s --retries=10 CMD ["pg_isready", "-h", "127.0.0.1"]
ENTRYPOINT ["postgres-start"]
