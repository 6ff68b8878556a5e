package auth

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// Signing algorithms, as JWT headers name them.
const (
	AlgEdDSA = "EdDSA"
	AlgRS256 = "RS256"
)

// RSAKeyBits is the size of generated RSA keys.
const RSAKeyBits = 2048

// Keys are the server's token keys. Private is nil on a server that only
// verifies.
type Keys struct {
	Alg     string
	Public  crypto.PublicKey
	Private crypto.Signer
}

// ReadPEM returns PEM text given either the text itself or a path to a file
// holding it. Literal "\n" sequences (as .env files write newlines) are
// turned into newlines.
func ReadPEM(textOrPath string) ([]byte, error) {
	s := strings.TrimSpace(textOrPath)
	if strings.HasPrefix(s, "-----BEGIN") {
		return []byte(strings.ReplaceAll(s, `\n`, "\n")), nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return nil, fmt.Errorf("not PEM text, and not a readable file: %w", err)
	}
	return b, nil
}

// LoadKeys parses the configured keys (PEM text or file paths). The public
// key decides the algorithm; with only a private key the public key is
// derived from it. A private key that does not match the public key is
// refused.
func LoadKeys(publicKey, privateKey string) (*Keys, error) {
	k := &Keys{}
	if privateKey != "" {
		b, err := ReadPEM(privateKey)
		if err != nil {
			return nil, fmt.Errorf("JWT_PRIVATE_KEY: %w", err)
		}
		k.Private, err = parsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("JWT_PRIVATE_KEY: %w", err)
		}
		k.Public = k.Private.Public()
	}
	if publicKey != "" {
		b, err := ReadPEM(publicKey)
		if err != nil {
			return nil, fmt.Errorf("JWT_PUBLIC_KEY: %w", err)
		}
		pub, err := parsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("JWT_PUBLIC_KEY: %w", err)
		}
		if k.Public != nil && !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Public) {
			return nil, errors.New("JWT_PRIVATE_KEY does not belong to JWT_PUBLIC_KEY")
		}
		k.Public = pub
	}
	switch k.Public.(type) {
	case ed25519.PublicKey:
		k.Alg = AlgEdDSA
	case *rsa.PublicKey:
		k.Alg = AlgRS256
	case nil:
		return nil, errors.New("JWT_PUBLIC_KEY is not set")
	}
	return k, nil
}

func parsePublicKey(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch pub.(type) {
		case ed25519.PublicKey, *rsa.PublicKey:
			return pub, nil
		}
		return nil, fmt.Errorf("unsupported public key type %T (want Ed25519 or RSA)", pub)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

func parsePrivateKey(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		switch key := key.(type) {
		case ed25519.PrivateKey:
			return key, nil
		case *rsa.PrivateKey:
			return key, nil
		}
		return nil, fmt.Errorf("unsupported private key type %T (want Ed25519 or RSA)", key)
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(block.Bytes)
	}
	return nil, fmt.Errorf("unsupported PEM block %q", block.Type)
}

// GenerateKeyPEM makes a new key pair for alg ("eddsa" or "rs256", either
// case) and returns the private key (PKCS#8) and public key (PKIX) as PEM.
func GenerateKeyPEM(alg string) (private, public []byte, err error) {
	var key crypto.Signer
	switch strings.ToLower(alg) {
	case "eddsa", "ed25519", "":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "rs256", "rsa":
		key, err = rsa.GenerateKey(rand.Reader, RSAKeyBits)
	default:
		return nil, nil, fmt.Errorf("unknown algorithm %q (want eddsa or rs256)", alg)
	}
	if err != nil {
		return nil, nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// Key file names written by WriteKeyFiles.
const (
	PrivateKeyFile = "jwt_private.pem"
	PublicKeyFile  = "jwt_public.pem"
)

// WriteKeyFiles generates a key pair for alg into dir (created if needed):
// jwt_private.pem (mode 0600) and jwt_public.pem. Existing files are never
// overwritten.
func WriteKeyFiles(dir, alg string) error {
	priv, pub, err := GenerateKeyPEM(alg)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := writeNew(filepath.Join(dir, PrivateKeyFile), priv, 0o600); err != nil {
		return err
	}
	return writeNew(filepath.Join(dir, PublicKeyFile), pub, 0o644)
}

func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (k *Keys) signingMethod() jwt.SigningMethod {
	if k.Alg == AlgRS256 {
		return jwt.SigningMethodRS256
	}
	return jwt.SigningMethodEdDSA
}
