package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// their paths and a pool trusting it.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "handoff test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serve speaks HTTPS with --tls-cert/--tls-key (here through their
// environment names), on loopback by default.
func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	dir, err := os.MkdirTemp("", "handoff-tls-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	_ = os.Chmod(dir, 0o755) // as root, the postgres user must reach it
	addr, _, stop := startServe(t, filepath.Join(dir, "state"), map[string]string{"HANDOFF_TLS_CERT": certFile, "HANDOFF_TLS_KEY": keyFile})
	defer stop()
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get("https://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("https: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("https /readyz: %d", resp.StatusCode)
	}
	if resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + addr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served next to TLS")
		}
	}
}

// Listen and TLS settings are checked before anything starts.
func TestListenAndTLSConfig(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	base := map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "HANDOFF_DATA_DIR": t.TempDir()}
	with := func(kv map[string]string) env {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for k, v := range kv {
			m[k] = v
		}
		return envOf(m)
	}
	cfg, err := loadServeConfig(nil, with(nil))
	if err != nil || cfg.listen != ":8080" {
		t.Fatalf("with DATABASE_URL: listen %q, %v", cfg.listen, err)
	}
	cfg, err = loadServeConfig([]string{"--listen", "127.0.0.1:9999"}, with(nil))
	if err != nil || cfg.listen != "127.0.0.1:9999" || cfg.port != 9999 {
		t.Fatalf("--listen: %q %d, %v", cfg.listen, cfg.port, err)
	}
	cfg, err = loadServeConfig(nil, with(map[string]string{"HANDOFF_TLS_CERT": certFile, "HANDOFF_TLS_KEY": keyFile,
		"HANDOFF_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7"}))
	if err != nil || cfg.publicURL != "https://localhost:8080" || len(cfg.trustedProxies) != 2 {
		t.Fatalf("TLS: %q %v, %v", cfg.publicURL, cfg.trustedProxies, err)
	}
	for name, kv := range map[string]map[string]string{
		"listen without port": {"HANDOFF_LISTEN": "127.0.0.1"},
		"cert without key":    {"HANDOFF_TLS_CERT": certFile},
		"unreadable cert":     {"HANDOFF_TLS_CERT": "/nonexistent", "HANDOFF_TLS_KEY": keyFile},
		"bad proxy":           {"HANDOFF_TRUSTED_PROXIES": "10.0.0.0/33"},
	} {
		if _, err := loadServeConfig(nil, with(kv)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
