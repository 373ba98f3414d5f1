FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY helpdesk ./helpdesk
COPY channels ./channels
COPY workers ./workers
COPY templates ./templates
RUN pip install --no-cache-dir .
ENV HELPDESK_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["helpdesk", "serve", "--host", "0.0.0.0", "--no-worker"]
