# The service image: the realty command on Python 3.11, serving the API on port 8000.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY domain ./domain
COPY projections ./projections
COPY service ./service
COPY archive ./archive
RUN pip install --no-cache-dir . && useradd --system --uid 10001 --home /app realty && mkdir -p /app/var && chown realty /app/var
USER realty
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3)"]
CMD ["realty", "run", "--host", "0.0.0.0"]
