// Package deploy holds what runs handoff as a service, beside the binary:
// the container image's state directory (the Dockerfile and compose.yaml
// are at the repository's root, where docker build and docker compose
// look), and the systemd unit. Its tests build the image from a locally
// built binary and run it against PostgreSQL, as an operator would, and
// keep what README's two commands compile on a cold Go cache light.
package deploy
