package db_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/handoffhq/handoff/db"
)

const validDiff = `diff --git a/main.go b/main.go
index 83db48f..bf269f4 100644
--- a/main.go
+++ b/main.go
@@ -1,3 +1,3 @@
 package main
-func old() {}
+func new() {}`

const newFileDiff = `diff --git a/new.txt b/new.txt
new file mode 100644
--- /dev/null
+++ b/new.txt
@@ -0,0 +1 @@
+hello`

func TestSanitizeGitDiff(t *testing.T) {
	big := validDiff + "\n+" + strings.Repeat("é", db.MaxGitDiffChars)
	cases := []struct {
		name    string
		in      *string
		want    *string
		wantSet bool
	}{
		{"absent", nil, nil, false},
		{"valid", ptr(validDiff), ptr(validDiff), true},
		{"new file", ptr(newFileDiff), ptr(newFileDiff), true},
		{"trimmed", ptr("  \n" + validDiff + "\n\n"), ptr(validDiff), true},
		{"empty clears", ptr(""), nil, true},
		{"blank clears", ptr(" \n\t"), nil, true},
		{"base64", ptr(base64.StdEncoding.EncodeToString([]byte(validDiff))), ptr(validDiff), true},
		{"base64 of empty clears", ptr(base64.StdEncoding.EncodeToString([]byte("  "))), nil, true},
		{"invalid ignored", ptr("fixed the bug"), nil, false},
		{"diff -u form", ptr(unifiedDiff), ptr(unifiedDiff), true},
		{"no hunk ignored", ptr("diff --git a/x b/x\nindex 1..2\n--- a/x\n+++ b/x\n"), nil, false},
		{"base64 of garbage ignored", ptr(base64.StdEncoding.EncodeToString([]byte("hello"))), nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, set := db.SanitizeGitDiff(c.in)
			if set != c.wantSet || (got == nil) != (c.want == nil) || (got != nil && *got != *c.want) {
				t.Fatalf("got %v %v, want %v %v", show(got), set, show(c.want), c.wantSet)
			}
		})
	}
	t.Run("truncated", func(t *testing.T) {
		got, set := db.SanitizeGitDiff(&big)
		if !set || got == nil {
			t.Fatal("a large valid diff was not kept")
		}
		const marker = "\n\n... [TRUNCATED - DIFF TOO LARGE] ..."
		if !strings.HasSuffix(*got, marker) || !strings.HasPrefix(*got, validDiff) {
			t.Fatal("truncated diff lacks its head or the marker")
		}
		if n := utf8.RuneCountInString(strings.TrimSuffix(*got, marker)); n != db.MaxGitDiffChars-100 {
			t.Fatalf("kept %d characters, want %d", n, db.MaxGitDiffChars-100)
		}
		if !utf8.ValidString(*got) {
			t.Fatal("truncation split a character")
		}
	})
}

func show(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return "\"" + *s + "\""
}

func FuzzSanitizeGitDiff(f *testing.F) {
	f.Add(validDiff)
	f.Add(newFileDiff)
	f.Add("")
	f.Add(base64.StdEncoding.EncodeToString([]byte(validDiff)))
	f.Fuzz(func(t *testing.T, in string) {
		got, set := db.SanitizeGitDiff(&in)
		if got != nil {
			if !set || *got == "" || !db.IsValidGitDiff(*got) {
				t.Fatalf("kept %q (set %v), which is not a valid diff", *got, set)
			}
			if utf8.RuneCountInString(*got) > db.MaxGitDiffChars {
				t.Fatalf("kept %d characters", utf8.RuneCountInString(*got))
			}
		}
	})
}

// unifiedDiff is diff -u output: file headers, no git header or index.
const unifiedDiff = "--- main.go.orig\t2026-11-25 10:00:00\n+++ main.go\t2026-11-25 10:01:00\n@@ -1,3 +1,3 @@\n package main\n-var x = 1\n+var x = 2"
