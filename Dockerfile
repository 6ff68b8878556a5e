# handoff's container image: the static binary on an empty base, run as a
# user without privileges. Build the binary first (no Go toolchain or
# image registry is needed inside the build):
#
#   go tool task image        # = CGO_ENABLED=0 go build -o bin/handoff ./cmd/handoff
#                             #   && docker build -t handoff .
#
# In the image, serve needs DATABASE_URL (there is no private PostgreSQL
# in it) and JWT keys: JWT_PUBLIC_KEY/JWT_PRIVATE_KEY as PEM text or
# paths, or key files a first start makes in /var/lib/handoff (mount a
# volume there). See compose.yaml and README's "Run it as a service".
FROM scratch
COPY --chown=65532:65532 deploy/state/ /var/lib/handoff/
COPY bin/handoff /handoff
USER 65532:65532
ENV PORT=8080 HANDOFF_DATA_DIR=/var/lib/handoff
EXPOSE 8080
VOLUME /var/lib/handoff
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["/handoff", "healthcheck"]
ENTRYPOINT ["/handoff"]
CMD ["serve"]
