# innominatus: slim Python, git for the repositories, a non-root user, the built-in providers.
FROM python:3.11-slim

RUN apt-get update \
 && apt-get install -y --no-install-recommends git ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 innominatus

WORKDIR /opt/innominatus
COPY pyproject.toml README.md ./
COPY reconciler ./reconciler
RUN pip install --no-cache-dir .
COPY providers ./providers
COPY examples/quickstart/providers ./providers-examples

USER innominatus
ENV INNOMINATUS_CONFIG=/etc/innominatus/config.yaml \
    INNOMINATUS_DATA_DIR=/var/lib/innominatus
VOLUME ["/var/lib/innominatus"]
EXPOSE 8081
ENTRYPOINT ["innominatus", "run"]
