# The bot in a container: slim Python 3.11, a non-root user (uid 10001), model registry and
# database on the /app/var volume; the first start trains a model if there is none.
#   docker build -t ko-sentiment-bot .
#   docker run -e TELEGRAM_TOKEN=... -e ADMIN_IDS=... -v ko-sentiment-var:/app/var ko-sentiment-bot
# A bind mount instead of the named volume must be writable by uid 10001 (docs/operations.md: Docker).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    OPENBLAS_NUM_THREADS=1 \
    DATABASE_PATH=/app/var/bot.sqlite3 \
    MODEL_REGISTRY=/app/var/models \
    DEMO_CACHE_DIR=/app/var/demos \
    SENTIMENT_CACHE_DIR=/app/var/cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY nlp ./nlp
COPY training ./training
RUN pip install --no-cache-dir . \
    && useradd --create-home --uid 10001 bot \
    && mkdir -p /app/var \
    && chown -R bot:bot /app/var

USER bot
VOLUME ["/app/var"]

# Healthy when the served model loads and the database answers (see bot/health.py).
HEALTHCHECK --interval=60s --timeout=20s --start-period=120s --retries=3 \
    CMD ["python", "-m", "bot.health"]

CMD ["python", "-m", "bot"]
