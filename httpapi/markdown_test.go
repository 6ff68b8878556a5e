package httpapi

import (
	"strings"
	"testing"
)

func TestRenderMarkdown(t *testing.T) {
	for _, tc := range []struct {
		in         string
		want, dont []string
	}{
		{"**Tests** pass: `go test ./...`", []string{"<strong>Tests</strong>", "<code>go test ./...</code>"}, nil},
		{"```go\nfunc main() {}\n```", []string{"<pre><code", "func main() {}"}, nil},
		{"Ran <b>this</b><script>alert(1)</script>", []string{"&lt;b&gt;this&lt;/b&gt;&lt;script&gt;alert(1)&lt;/script&gt;"}, []string{"<script", "<b>"}},
		{"<div onclick=\"x()\">\nblock\n</div>", []string{"&lt;div onclick="}, []string{"<div"}},
		{"[click](javascript:alert(1)) and <https://example.com>", []string{`href="https://example.com"`, `rel="nofollow`}, []string{"javascript:"}},
		{"| a | b |\n|---|---|\n| 1 | 2 |", []string{"<table>", "<td>1</td>"}, nil},
		{"![x](data:text/html;base64,PHNjcmlwdD4=)", nil, []string{"data:text/html"}},
		{"line one\nline two", []string{"line one<br", "line two"}, nil},
	} {
		got := string(renderMarkdown(tc.in))
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: %q lacks %q", tc.in, got, w)
			}
		}
		for _, d := range tc.dont {
			if strings.Contains(got, d) {
				t.Errorf("%q: %q has %q", tc.in, got, d)
			}
		}
	}
}

// A message in the session list is the words its Markdown shows: no
// emphasis marks, fences, table rules or options block, and an agent's
// HTML as the text it wrote (the template escapes it).
func TestBrief(t *testing.T) {
	in := "Benchmarks, **before and after**:\n\n| pkg | ms |\n|---|---|\n| db | 45 |\n\n```sh\ngo test ./...\n```\n\n" +
		"See [the notes](https://example.com) & <b>this</b>\n\n[OPTIONS]\n1. Ship it\n2. Wait\n[/OPTIONS]"
	want := "Benchmarks, before and after: pkg ms db 45 go test ./... See the notes & <b>this</b>"
	if got := clipText(brief(in), 200); got != want {
		t.Fatalf("brief:\n got %q\nwant %q", got, want)
	}
}
