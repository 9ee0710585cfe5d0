# A Debian package as a container (the `scale` profile's redis-server and nginx), built from any
# Debian bookworm root: the same programs the test suites run, and no other registry needed.
ARG BASE_IMAGE=debian:bookworm-slim
FROM ${BASE_IMAGE}
ARG PACKAGES
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES} \
 && rm -rf /var/lib/apt/lists/*
