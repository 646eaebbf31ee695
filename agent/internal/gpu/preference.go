package gpu

import "github.com/comfylauncher/launcher/agent/internal/gpu/gpupref"

// The gpu setting lives in package gpupref (configuration parses it without this package);
// these names let placement code and callers keep writing gpu.Preference.
type (
	// Mode says how a project chooses its GPU.
	Mode = gpupref.Mode
	// DeviceRef names one GPU in a preference list.
	DeviceRef = gpupref.DeviceRef
	// Preference is a project's gpu setting.
	Preference = gpupref.Preference
)

// Preference modes.
const (
	Auto = gpupref.Auto
	None = gpupref.None
	List = gpupref.List
)

// AutoPreference, NonePreference: the two fixed preferences.
var (
	AutoPreference = gpupref.AutoPreference
	NonePreference = gpupref.NonePreference
)

// ParsePreference converts a decoded TOML or JSON value into a Preference (gpupref.ParsePreference).
func ParsePreference(v any) (Preference, error) { return gpupref.ParsePreference(v) }
