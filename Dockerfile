# syntax=docker/dockerfile:1
# Build: cgo is needed for the embedded DuckDB engine.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/da .

# Runtime: a small Debian image with a non-root user; assets are embedded in the binary.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin da \
 && mkdir -p /data /backups && chown da:da /data /backups
COPY --from=build /out/da /usr/local/bin/da
ENV DATA_DIR=/data DA_ADDR=:8000 DA_ENV=production
VOLUME ["/data"]
EXPOSE 8000
USER da
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/api/health >/dev/null || exit 1
ENTRYPOINT ["da"]
CMD ["serve"]
