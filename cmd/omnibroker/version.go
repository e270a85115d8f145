package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version and commit are stamped by `make build` and `make image`:
//
//	go build -ldflags "-X main.version=1.2.3 -X main.commit=$(git rev-parse HEAD)"
//
// Left empty (go build, go install, a tree without .git), they come from the build info Go
// records: the module's version and the VCS revision, where Go knew them.
var (
	version string
	commit  string
)

// versionText is what `omnibroker version` prints.
func versionText() string {
	v, c := build()
	return fmt.Sprintf("omnibroker %s\ncommit %s\n%s %s/%s\n", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// build is the version and the commit of this binary: "(devel)" and "unknown" when nothing
// says.
func build() (v, c string) {
	v, c = version, commit
	if info, ok := debug.ReadBuildInfo(); ok {
		if v == "" && info.Main.Version != "" {
			v = info.Main.Version
		}
		if c == "" {
			c = revision(info)
		}
	}
	if v == "" {
		v = "(devel)"
	}
	if c == "" {
		c = "unknown"
	}
	return v, c
}

// revision is the VCS revision Go stamped into the build, "-dirty" when the tree had changes.
func revision(info *debug.BuildInfo) string {
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" && modified == "true" {
		rev += "-dirty"
	}
	return rev
}
