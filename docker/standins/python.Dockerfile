# Stand-in for python:3.11.11-slim-bookworm: Debian's Python 3.11 in a venv on PATH
# (so `pip install` works as in the official image).
FROM local/debian:bookworm
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /usr/local/py
ENV PATH=/usr/local/py/bin:$PATH \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
CMD ["python3"]
