package httpapi

import (
	"reflect"
	"testing"
)

// A git diff is shown file by file: each file's name (the b/ side), its
// counts of added and removed lines, and its lines classed for colour.
// Inside a hunk a line is content even when it reads like a header.
func TestDiffFiles(t *testing.T) {
	diff := "diff --git a/main.go b/main.go\n" +
		"index 83db48f..bf269f4 100644\n" +
		"--- a/main.go\n" +
		"+++ b/main.go\n" +
		"@@ -1,3 +1,3 @@\n" +
		" package main\n" +
		"-func old() {}\n" +
		"+func release() {}\n" +
		" // end\n" +
		"diff --git a/deploy/app b.yaml b/deploy/app b.yaml\n" +
		"--- a/deploy/app b.yaml\n" +
		"+++ b/deploy/app b.yaml\n" +
		"@@ -1,2 +1,2 @@\n" +
		"----\n" + // a YAML document's "---", removed
		"+++i;\n" + // a C line "++i;", added
		" kind: x\n" +
		"\\ No newline at end of file"
	lines := diffLines(diff)
	classes := make([]string, len(lines))
	for i, l := range lines {
		classes[i] = l.Class
	}
	want := []string{"file", "", "file", "file", "hunk", "", "del", "add", "",
		"file", "file", "file", "hunk", "del", "add", "", ""}
	if !reflect.DeepEqual(classes, want) {
		t.Fatalf("classes %q,\nwant    %q", classes, want)
	}
	type summary struct {
		Name             string
		Adds, Dels, Rows int
	}
	var got []summary
	for _, f := range diffFiles(lines) {
		got = append(got, summary{f.Name, f.Adds, f.Dels, len(f.Lines)})
	}
	if w := []summary{{"main.go", 1, 1, 9}, {"deploy/app b.yaml", 1, 1, 8}}; !reflect.DeepEqual(got, w) {
		t.Fatalf("files %+v,\nwant  %+v", got, w)
	}
	// A diff -u without git's header is one file; a hunk header it cannot
	// read leaves the lines classed by their first character.
	for _, d := range []string{"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b", "--- a/x\n+++ b/x\n@@ nonsense @@\n-a\n+b"} {
		plain := diffFiles(diffLines(d))
		if len(plain) != 1 || plain[0].Adds != 1 || plain[0].Dels != 1 || len(plain[0].Lines) != 5 {
			t.Errorf("%q: %+v", d, plain)
		}
	}
}
