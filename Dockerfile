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
# var/ holds what the processes write (beat's schedule): the app user owns it. Production keys come from
# the environment (CONNECTOR_SECRET_KEYS, CONNECTOR_WEB_SECRET), never from files generated here.
RUN useradd --create-home connector && mkdir -p /app/var && chown connector /app/var
USER connector
CMD ["connector", "worker"]
