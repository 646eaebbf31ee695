package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// buildDetails reads the commit, its time and whether the tree was modified from the VCS
// stamp the Go toolchain puts into binaries built inside a git checkout.
type buildDetails struct {
	Version   string
	Commit    string
	Time      string
	Modified  bool
	GoVersion string
}

func readBuildDetails() buildDetails {
	d := buildDetails{Version: buildVersion(), Commit: "unknown", GoVersion: "unknown"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		d.GoVersion = bi.GoVersion
		d.readSettings(bi.Settings)
	}
	if commit != "" { // -X main.commit wins over the VCS stamp
		d.Commit = commit
	}
	return d
}

func (d *buildDetails) readSettings(settings []debug.BuildSetting) {
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			d.Commit = s.Value
		case "vcs.time":
			d.Time = s.Value
		case "vcs.modified":
			d.Modified = s.Value == "true"
		}
	}
}

// printVersion is `launcher version`: the version, the commit and the Go version.
func printVersion(w io.Writer) {
	d := readBuildDetails()
	fmt.Fprintln(w, "launcher", d.Version)
	commit := d.Commit
	if d.Modified {
		commit += " (modified)"
	}
	if d.Time != "" {
		commit += " " + d.Time
	}
	fmt.Fprintln(w, "commit:", commit)
	fmt.Fprintln(w, "go:", d.GoVersion)
}
