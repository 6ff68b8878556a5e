package main

import (
	"os"
	"path/filepath"
	"testing"
)

// With DATABASE_URL and no JWT keys, a data dir given explicitly (the
// container image sets one) holds the keys, made on the first start; with
// neither, serve still says the keys are missing.
func TestExplicitDataDirHoldsKeys(t *testing.T) {
	dir := t.TempDir()
	env := envOf(map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db", "HANDOFF_DATA_DIR": dir})
	cfg, err := loadServeConfig(nil, env)
	if err != nil {
		t.Fatalf("explicit data dir without keys: %v", err)
	}
	if cfg.keys != nil || cfg.keySource.dir != filepath.Join(dir, "keys") {
		t.Fatalf("keys %v from %q, want them made later in the data dir", cfg.keys, cfg.keySource.dir)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys")); !os.IsNotExist(err) {
		t.Fatalf("reading the configuration wrote to the data dir: %v", err)
	}
	if _, err := loadKeys(cfg.keySource); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKeys(cfg.keySource); err != nil {
		t.Fatalf("second start, keys made already: %v", err)
	}

	if _, err := loadServeConfig(nil, envOf(map[string]string{"DATABASE_URL": "postgres://u:p@127.0.0.1:1/db"})); err == nil {
		t.Fatal("no keys and no data dir: accepted")
	}
}
