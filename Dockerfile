# The one `patron` image every Deployment runs (`patron serve <service>`).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p patron

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/patron /usr/local/bin/patron
USER 10001
ENTRYPOINT ["/usr/local/bin/patron"]
