package engine

import (
	"fmt"
	"time"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

// Restart policy names, as Docker's.
const (
	RestartNo            = "no"
	RestartAlways        = "always"
	RestartUnlessStopped = "unless-stopped"
	RestartOnFailure     = "on-failure"
)

// RestartPolicy says whether the engine starts a container again when it
// exits. "" means "no".
type RestartPolicy struct {
	Name string `json:"name,omitempty"`
	// MaxRetries bounds on-failure restarts; 0: no bound.
	MaxRetries int `json:"max_retries,omitempty"`
}

func (p RestartPolicy) validate() error {
	switch p.Name {
	case "", RestartNo, RestartAlways, RestartUnlessStopped:
		if p.MaxRetries != 0 {
			return errdefs.Invalid(fmt.Sprintf("invalid restart policy: maximum retry count can only be used with 'on-failure', not %q", p.Name))
		}
	case RestartOnFailure:
		if p.MaxRetries < 0 {
			return errdefs.Invalid("invalid restart policy: maximum retry count cannot be negative")
		}
	default:
		return errdefs.Invalid(fmt.Sprintf("invalid restart policy: unknown policy %q; use one of 'no', 'always', 'on-failure' or 'unless-stopped'", p.Name))
	}
	return nil
}

// Health statuses, as Docker's.
const (
	HealthNone      = "none"
	HealthStarting  = "starting"
	HealthHealthy   = "healthy"
	HealthUnhealthy = "unhealthy"
)

// HealthConfig is a container's healthcheck, Docker's HEALTHCHECK: Test is
// ["CMD", args...] or ["CMD-SHELL", command] (["NONE"] disables it).
type HealthConfig struct {
	Test          []string      `json:"test"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"start_period,omitempty"`
	StartInterval time.Duration `json:"start_interval,omitempty"`
	Retries       int           `json:"retries,omitempty"`
}

// Docker's healthcheck defaults.
const (
	defaultHealthInterval = 30 * time.Second
	defaultHealthTimeout  = 30 * time.Second
	defaultHealthRetries  = 3
	// healthLogMax results are kept, as Docker keeps.
	healthLogMax = 5
	// healthOutputMax bytes of a probe's output are kept.
	healthOutputMax = 4096
)

func (h *HealthConfig) validate() error {
	if h == nil {
		return nil
	}
	if len(h.Test) == 0 {
		return nil
	}
	switch h.Test[0] {
	case "NONE":
	case "CMD", "CMD-SHELL":
		if len(h.Test) < 2 {
			return errdefs.Invalid(fmt.Sprintf("healthcheck: %s needs a command", h.Test[0]))
		}
	default:
		return errdefs.Invalid(fmt.Sprintf("healthcheck: test must start with CMD, CMD-SHELL or NONE, not %q", h.Test[0]))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start period", h.StartPeriod}, {"start interval", h.StartInterval}} {
		if d.v != 0 && d.v < time.Millisecond {
			return errdefs.Invalid(fmt.Sprintf("healthcheck: %s must be at least 1ms, or 0 for the default", d.name))
		}
	}
	if h.Retries < 0 {
		return errdefs.Invalid("healthcheck: retries must not be negative")
	}
	return nil
}

// active reports whether h runs a probe.
func (h *HealthConfig) active() bool {
	return h != nil && len(h.Test) > 1 && h.Test[0] != "NONE"
}

// Health is the state of a container's healthcheck.
type Health struct {
	Status        string         `json:"status"`
	FailingStreak int            `json:"failing_streak"`
	Log           []HealthResult `json:"log,omitempty"`
}

// HealthResult is one probe.
type HealthResult struct {
	Start    time.Time `json:"start"`
	End      time.Time `json:"end"`
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output"`
}

// LogConfig bounds a container's json-file log, as the json-file driver's
// max-size and max-file options.
type LogConfig struct {
	MaxSize  int64 `json:"max_size,omitempty"`
	MaxFiles int   `json:"max_files,omitempty"`
}
