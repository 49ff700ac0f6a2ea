# The service image: the realty command on Python 3.11. Refined with the HTTP and topology issues.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY service ./service
COPY archive ./archive
RUN pip install --no-cache-dir . && useradd --system --home /app realty && mkdir -p /app/var && chown realty /app/var
USER realty
HEALTHCHECK --interval=15s --timeout=5s --retries=5 CMD ["realty", "summary"]
CMD ["realty", "run"]
