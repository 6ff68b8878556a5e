package main

// Root certificates for machines without any (the container image is
// FROM scratch): webhook deliveries over HTTPS verify against Mozilla's
// roots, bundled by the Go team, only when the system has none.
import _ "golang.org/x/crypto/x509roots/fallback"
