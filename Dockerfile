# dmdoctor: a static binary on a distroless base, running as a non-root
# user, with its SQLite database on a volume.
#
#   docker build -t dmdoctor .
#   docker run --rm -e TELEGRAM_BOT_TOKEN -v dmdoctor-data:/data -p 127.0.0.1:8080:8080 dmdoctor
#   docker run --rm -it dmdoctor chat          # the terminal chat, no token needed

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# CGO off: the SQLite driver (modernc.org/sqlite) is pure Go, so the binary
# is static and runs on an image with no C library.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/dmdoctor ./cmd/dmdoctor \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/dmdoctor /usr/local/bin/dmdoctor
# The database lives on a volume owned by the non-root user (65532).
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV DMDOCTOR_DB=/data/dmdoctor.db \
    DMDOCTOR_HTTP_ADDR=0.0.0.0:8080 \
    DMDOCTOR_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/dmdoctor", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/dmdoctor"]
