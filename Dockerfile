# innominatus: slim Python, git for the repositories, a non-root user, the built-in providers,
# a default configuration for a container (the API and webhook receiver on all interfaces, SQLite
# and data in the writable /var/lib/innominatus). README "Container image"; checked by reading
# this file in tests/integration/ci/test_container_image.py (no Docker engine in CI).
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates bubblewrap \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 innominatus \
 && install -d -o innominatus -g innominatus -m 0700 /var/lib/innominatus \
 && install -d -m 0755 /etc/innominatus

WORKDIR /opt/innominatus
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir .
COPY providers ./providers
COPY examples/quickstart/providers ./providers-examples
COPY config/container.yaml /etc/innominatus/config.yaml

USER innominatus
ENV INNOMINATUS_CONFIG=/etc/innominatus/config.yaml \
    INNOMINATUS_DATA_DIR=/var/lib/innominatus
VOLUME ["/var/lib/innominatus"]
# 8081: the read-only API (/healthz, /readyz, /metrics, the dashboard); 8082: the webhook receiver.
EXPOSE 8081 8082
# python's urllib, not curl: the slim image has no curl. Assumes the API on its default port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8081/healthz', timeout=4)"]
# `docker run IMAGE` runs the daemon; `docker run IMAGE status` (or any command) the CLI.
ENTRYPOINT ["innominatus"]
CMD ["run", "--config", "/etc/innominatus/config.yaml"]
