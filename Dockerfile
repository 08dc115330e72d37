FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 ingestlayer \
 && useradd --system --uid 10001 --gid ingestlayer --no-create-home ingestlayer

WORKDIR /app

# Only what the package build and the entry points need: a plain `COPY . .` would
# also pull in the host's .venv and .git.
COPY pyproject.toml README.md worker.py ./
COPY ingestlayer ./ingestlayer
COPY api ./api
COPY workflows ./workflows
COPY activities ./activities
RUN pip install --no-cache-dir . \
 && rm -rf build ./*.egg-info

# Numeric, so orchestrators that enforce runAsNonRoot can verify it.
USER 10001:10001

EXPOSE 8000
CMD ["uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
