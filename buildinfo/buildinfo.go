// Package buildinfo says which paystate is running: the version and
// revision stamped at release build time with
//
//	-ldflags "-X github.com/paystate/paystate/buildinfo.Version=v1.2.3 -X github.com/paystate/paystate/buildinfo.Revision=$(git rev-parse HEAD)"
//
// falling back to what the Go toolchain recorded in the binary (the module
// version, and the VCS revision when the build was made with VCS stamping).
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Set at link time with -X; empty means "ask the toolchain's build info".
var (
	Version  string
	Revision string
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Revision  string `json:"revision,omitempty"`
	Modified  bool   `json:"modified,omitempty"`
	BuildTime string `json:"build_time,omitempty"`
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's build information.
func Get() Info {
	info := Info{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Revision == "" {
					info.Revision = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true"
			case "vcs.time":
				info.BuildTime = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	return info
}

// String renders the info on one line: "paystate v1.2.3 abc123 go1.26.8".
func (i Info) String() string {
	s := "paystate " + i.Version
	if i.Revision != "" {
		s += " " + i.Revision
		if i.Modified {
			s += "+dirty"
		}
	}
	return s + " " + i.GoVersion
}

// LogAttrs are the fields of a start-up log line.
func (i Info) LogAttrs() []any {
	return []any{"version", i.Version, "revision", i.Revision, "go_version", i.GoVersion}
}
