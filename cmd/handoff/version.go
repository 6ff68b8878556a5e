package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is this binary's version from its build info: the module
// version (a tag, for go install of a release) or the commit it was built
// from (and whether the tree had changes), with the Go version. The MCP
// server and the stdio bridge report the same.
func version() string {
	v, rev, when, dirty := "(devel)", "", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	parts := []string{v}
	if v != "(devel)" { // a release tag, or a pseudo-version naming the commit
		return v
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+changes"
		}
		parts = append(parts, rev)
	}
	if when != "" {
		parts = append(parts, when)
	}
	return strings.Join(parts, " ")
}

func versionCmd(stdout io.Writer) error {
	fmt.Fprintf(stdout, "handoff %s %s\n", version(), runtime.Version())
	return nil
}
