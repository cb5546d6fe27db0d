# syntax=docker/dockerfile:1
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Unprivileged runtime user; /data is its writable data dir.
RUN groupadd --system --gid 10001 monitor \
 && useradd --system --uid 10001 --gid monitor --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin monitor \
 && mkdir -p /app /data \
 && chown monitor:monitor /data

WORKDIR /app

# Code stays root-owned (read-only for the app user).
COPY pyproject.toml README.md ./
COPY src/ ./src/
COPY templates/ ./templates/
COPY static/ ./static/

RUN pip install --no-cache-dir .

ENV MONITOR_HOST=0.0.0.0 \
    PORT=8080 \
    MONITOR_DATA_DIR=/data

VOLUME /data
EXPOSE 8080

# numeric so runtimes can verify it is non-root (user "monitor")
USER 10001:10001

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8080'), timeout=4)"]

ENTRYPOINT ["monitor"]
CMD ["serve"]
