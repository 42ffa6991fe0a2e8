# smsguard image: every `smsguard` sub-command (worker, enforcer, notify, check, produce, ...).
# Built by docker-compose.yml; `docker build -t smsguard .` works on its own too.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first, so that editing the code does not reinstall them.
COPY pyproject.toml README.md ./
COPY detector ./detector
COPY models ./models
COPY streams ./streams
RUN pip install . && rm -rf /src

# Run unprivileged; /data holds the worker's RocksDB state (config worker.data_dir).
RUN useradd --system --uid 10001 --home-dir /data --create-home smsguard
USER smsguard
WORKDIR /data
ENV SMSGUARD_WORKER__DATA_DIR=/data/worker \
    SMSGUARD_WORKER__METRICS_ADDR=0.0.0.0

ENTRYPOINT ["smsguard"]
CMD ["--help"]
