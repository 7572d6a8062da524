# Gazette in a container: a release build, then a small runtime image.
#   docker build -t gazette .
#   docker compose up        # the worker with a local catcher (compose.yaml)
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src src
COPY templates templates
COPY migrations migrations
COPY benches benches
RUN cargo build --release --locked --bin gazette

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home-dir /data --create-home gazette \
 && mkdir -p /data/state && chown gazette:gazette /data/state
COPY --from=build /src/target/release/gazette /usr/local/bin/gazette
USER gazette
WORKDIR /data
# /data holds gazette.toml, posts/ and the SQLite file (mount them).
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["gazette"]
CMD ["worker", "--listen", "0.0.0.0:8080"]
