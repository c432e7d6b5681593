# The provider image: `docker run IMAGE serve`, `docker run IMAGE db upgrade`, … (entrypoint `sso`).
FROM python:3.11-slim

# sso.runtime finds the Alembic scripts beside the package (../migrations), so the code runs from
# /app, where migrations/ sits next to sso/; `pip install .` brings the dependencies and the
# `sso` console script.
# MALLOC_ARENA_MAX=2: fewer glibc malloc arenas kept per worker (bench/README.md: peak RSS).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY sso ./sso
COPY migrations ./migrations
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /app --shell /usr/sbin/nologin sso \
    && mkdir -p /app/var \
    && chown sso:sso /app/var

# Never run as root: the process only reads its code and writes var/.
USER sso
EXPOSE 8000
ENTRYPOINT ["sso"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
