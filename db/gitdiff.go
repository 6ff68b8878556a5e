package db

import (
	"encoding/base64"
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxGitDiffChars is the longest git diff kept on an instance, in characters;
// a longer one is cut and marked, as Omnara does.
const MaxGitDiffChars = 1 << 20

const gitDiffTruncatedMarker = "\n\n... [TRUNCATED - DIFF TOO LARGE] ..."

var (
	diffOld    = regexp.MustCompile(`(?m)^--- `)
	diffNew    = regexp.MustCompile(`(?m)^\+\+\+ `)
	diffHunk   = regexp.MustCompile(`(?m)^@@[ \-+,0-9]+@@`)
	diffLine   = regexp.MustCompile(`(?m)^[ +\-]`)
	base64Body = regexp.MustCompile(`^[A-Za-z0-9+/]*={0,2}$`)
)

// IsValidGitDiff reports whether s looks like a diff in unified form: the
// ---/+++ pair, a hunk header and at least one context, added or removed
// line. git diff's output (a diff --git header, an index or new-file
// line) and diff -u's (file headers only) both are.
func IsValidGitDiff(s string) bool {
	return diffOld.MatchString(s) && diffNew.MatchString(s) &&
		diffHunk.MatchString(s) && diffLine.MatchString(s)
}

// SanitizeGitDiff turns a client's git_diff into what is stored, with
// Omnara's rules: nil means "no change" (set is false); base64 text is
// decoded (the SDK sends it encoded); surrounding white space is trimmed; ""
// clears the stored diff; an invalid diff is ignored (set is false); a diff
// over MaxGitDiffChars is truncated with a marker.
func SanitizeGitDiff(in *string) (diff *string, set bool) {
	if in == nil {
		return nil, false
	}
	s := *in
	if base64Body.MatchString(s) && len(s)%4 == 0 {
		if raw, err := base64.StdEncoding.DecodeString(s); err == nil {
			s = strings.ToValidUTF8(string(raw), "\uFFFD")
		}
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, true
	}
	if !IsValidGitDiff(s) {
		return nil, false
	}
	if utf8.RuneCountInString(s) > MaxGitDiffChars {
		s = truncateRunes(s, MaxGitDiffChars-100) + gitDiffTruncatedMarker
	}
	return &s, true
}

func truncateRunes(s string, n int) string {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos]
		}
		i++
	}
	return s
}
