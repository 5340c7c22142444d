package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/docker/go-units"

	"github.com/capsa-dev/capsa/internal/engine"
	"github.com/capsa-dev/capsa/internal/network"
)

// DefaultConfigFile is where capsad reads its configuration.
const DefaultConfigFile = "/etc/capsa/capsad.json"

// Config is capsad's configuration: /etc/capsa/capsad.json, with the keys
// of dockerd's daemon.json for what they share.
type Config struct {
	// DataRoot keeps images and containers (/var/lib/capsa).
	DataRoot string `json:"data-root,omitempty"`
	// ExecRoot keeps runtime state: shim sockets, mounts (/run/capsa).
	ExecRoot string `json:"exec-root,omitempty"`
	// Hosts are the addresses served; unix:///run/capsa/capsa.sock.
	Hosts []string `json:"hosts,omitempty"`
	// DefaultRuntime names the runtime of containers that name none.
	DefaultRuntime string `json:"default-runtime,omitempty"`
	// Runtimes registers OCI runtimes by name, as dockerd's.
	Runtimes map[string]Runtime `json:"runtimes,omitempty"`
	// LogDriver is json-file (the only one); LogOpts its max-size and
	// max-file.
	LogDriver string            `json:"log-driver,omitempty"`
	LogOpts   map[string]string `json:"log-opts,omitempty"`
	// Debug logs every request.
	Debug bool `json:"debug,omitempty"`
	// Group owns the socket (mode 0660); "": root.
	Group string `json:"group,omitempty"`
	// InsecureRegistries (host[:port]) are pulled from over plain HTTP;
	// loopback registries always may be.
	InsecureRegistries []string `json:"insecure-registries,omitempty"`
	// Bridge names the default network's bridge (default capsa0); BIP is
	// its gateway and prefix, as dockerd's ("10.77.0.1/16");
	// DefaultAddressPools give user networks their subnets.
	Bridge              string                `json:"bridge,omitempty"`
	BIP                 string                `json:"bip,omitempty"`
	DefaultAddressPools []network.AddressPool `json:"default-address-pools,omitempty"`
}

// Runtime is a registered OCI runtime.
type Runtime struct {
	Path string `json:"path"`
}

// Default names.
const (
	DefaultRuntimeName = "capsa"
	DefaultHost        = "unix:///run/capsa/capsa.sock"
)

// LoadConfig reads path; a missing file is an empty configuration unless
// required.
func LoadConfig(path string, required bool) (Config, error) {
	var c Config
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && !required {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Complete fills in defaults and checks c.
func (c *Config) Complete() error {
	if c.DataRoot == "" {
		c.DataRoot = "/var/lib/capsa"
	}
	if c.ExecRoot == "" {
		c.ExecRoot = "/run/capsa"
	}
	if len(c.Hosts) == 0 {
		c.Hosts = []string{DefaultHost}
	}
	for _, h := range c.Hosts {
		if !strings.HasPrefix(h, "unix://") {
			return fmt.Errorf("config: host %q: only unix:// sockets are served", h)
		}
	}
	if c.Runtimes == nil {
		c.Runtimes = map[string]Runtime{}
	}
	if _, ok := c.Runtimes[DefaultRuntimeName]; !ok {
		if p, err := findBinary("capsa-runtime"); err == nil {
			c.Runtimes[DefaultRuntimeName] = Runtime{Path: p}
		}
	}
	// runc and crun are registered when installed, so that --runtime
	// runc works as with dockerd.
	for _, name := range []string{"runc", "crun"} {
		if _, ok := c.Runtimes[name]; ok {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			c.Runtimes[name] = Runtime{Path: p}
		}
	}
	if c.DefaultRuntime == "" {
		c.DefaultRuntime = DefaultRuntimeName
	}
	if _, ok := c.Runtimes[c.DefaultRuntime]; !ok {
		return fmt.Errorf("config: default runtime %q is not registered (is capsa-runtime installed?)", c.DefaultRuntime)
	}
	switch c.LogDriver {
	case "", "json-file":
	default:
		return fmt.Errorf("config: log-driver %q: capsa has json-file", c.LogDriver)
	}
	if _, err := c.logConfig(); err != nil {
		return err
	}
	return nil
}

func (c *Config) logConfig() (engine.LogConfig, error) {
	var lc engine.LogConfig
	for k, v := range c.LogOpts {
		switch k {
		case "max-size":
			n, err := units.RAMInBytes(v)
			if err != nil || n <= 0 {
				return lc, fmt.Errorf("config: log-opts max-size %q: invalid size", v)
			}
			lc.MaxSize = n
		case "max-file":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return lc, fmt.Errorf("config: log-opts max-file %q: must be a positive number", v)
			}
			lc.MaxFiles = n
		default:
			return lc, fmt.Errorf("config: log-opts %q: unknown option of json-file", k)
		}
	}
	return lc, nil
}

// findBinary looks for a capsa binary beside the running one, then in
// PATH.
func findBinary(name string) (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return exec.LookPath(name)
}
