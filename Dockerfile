FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
COPY pyproject.toml README.md ./
COPY connector connector
COPY channels channels
COPY erp erp
COPY mapping mapping
COPY sandbox sandbox
COPY admin_ui admin_ui
RUN pip install --no-cache-dir .
RUN useradd --create-home connector
USER connector
CMD ["connector", "worker"]
