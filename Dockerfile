# syntax=docker/dockerfile:1
#
# Build:  docker build --build-arg VERSION=$(cat VERSION) \
#           --build-arg REVISION=$(git rev-parse HEAD) \
#           --build-arg BRANCH=$(git rev-parse --abbrev-ref HEAD) -t ativo_exporter .
# Run:    docker run --rm -p 127.0.0.1:9721:9721 ativo_exporter --demo
#
# The binary is static (CGO_ENABLED=0) and built with the same version ldflags as
# `make build`; tools/opscheck runs this stage's build command and starts the result.

FROM golang:1.27.3 AS build

ARG VERSION=dev
ARG REVISION=unknown
ARG BRANCH=unknown
ARG BUILD_USER=docker
ARG BUILD_DATE=

WORKDIR /src

# Module downloads are cached in their own layer: source edits do not re-download them.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "\
        -X github.com/prometheus/common/version.Version=${VERSION} \
        -X github.com/prometheus/common/version.Revision=${REVISION} \
        -X github.com/prometheus/common/version.Branch=${BRANCH} \
        -X github.com/prometheus/common/version.BuildUser=${BUILD_USER} \
        -X github.com/prometheus/common/version.BuildDate=${BUILD_DATE:-$(date -u +%Y%m%d-%H:%M:%S)}" \
      -o /out/ativo_exporter .

# distroless static: no shell, no package manager; CA certificates and tzdata included.
FROM gcr.io/distroless/static-debian12:nonroot

ARG VERSION=dev
ARG REVISION=unknown

LABEL org.opencontainers.image.title="ativo_exporter" \
      org.opencontainers.image.description="Prometheus exporter for Ativo Programs for Jira" \
      org.opencontainers.image.source="https://github.com/ativo-exporter/ativo_exporter" \
      org.opencontainers.image.url="https://github.com/ativo-exporter/ativo_exporter" \
      org.opencontainers.image.documentation="https://github.com/ativo-exporter/ativo_exporter#readme" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"

COPY --from=build /out/ativo_exporter /bin/ativo_exporter

# 65532 is the distroless "nonroot" user; numeric so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
EXPOSE 9721

ENTRYPOINT ["/bin/ativo_exporter"]
