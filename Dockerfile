# syntax=docker/dockerfile:1
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/s3cache ./cmd/s3cache

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/s3cache /s3cache
USER nonroot:nonroot
EXPOSE 8080
# No shell or curl in this image: the binary probes its own /-/healthz
# (on LISTEN_ADDR, from the environment or S3CACHE_CONFIG's file).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/s3cache", "healthcheck"]
ENTRYPOINT ["/s3cache"]
