# The bot in a container: slim Python 3.11, a non-root user, model registry and database
# on volumes. Train first (`make train`, or let the first start train one), then:
#   docker build -t ko-sentiment-bot .
#   docker run -e TELEGRAM_TOKEN=... -e ADMIN_IDS=... -v $PWD/var:/app/var ko-sentiment-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
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
