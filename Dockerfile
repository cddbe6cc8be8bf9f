# Portico's container image: a static binary on distroless, run as nonroot.
#
#   docker build -t portico \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg COMMIT=$(git rev-parse HEAD) \
#     --build-arg DATE=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ) .
#
# `make image` builds the same image without Docker (internal/image).

FROM golang:1.26-bookworm AS build
WORKDIR /src
# The sdk is its own module, required through a replace (docs/plugins.md).
COPY go.mod go.sum ./
COPY sdk/go.mod sdk/go.sum ./sdk/
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
# cgo off: a static binary that needs no libc in the final image.
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w \
        -X github.com/portico-idp/portico/internal/version.Version=${VERSION} \
        -X github.com/portico-idp/portico/internal/version.Commit=${COMMIT} \
        -X github.com/portico-idp/portico/internal/version.Date=${DATE}" \
      -o /out/portico ./cmd/portico \
 && mkdir -p /out/data

# CA certificates, /etc/passwd with nonroot (65532), /tmp; no shell.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
LABEL org.opencontainers.image.title="portico" \
      org.opencontainers.image.description="Portico, an OpenID Connect identity broker" \
      org.opencontainers.image.source="https://github.com/portico-idp/portico" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}"
COPY --from=build /out/portico /portico
# storage.dir for Badger when no volume is mounted there.
COPY --from=build --chown=65532:65532 /out/data /var/lib/portico
USER 65532:65532
# The port of `listen: 0.0.0.0:8080` in the configuration.
EXPOSE 8080
ENTRYPOINT ["/portico"]
CMD ["serve", "--config", "/etc/portico/portico.yaml"]
