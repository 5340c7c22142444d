package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
)

// memBytes is a size flag (-m 512m) parsed as docker does, with go-units.
type memBytes int64

func (m *memBytes) String() string {
	if *m == 0 {
		return "0"
	}
	return units.BytesSize(float64(*m))
}

func (m *memBytes) Set(s string) error {
	v, err := units.RAMInBytes(s)
	*m = memBytes(v)
	return err
}

func (m *memBytes) Type() string { return "bytes" }

// swapBytes is --memory-swap: a size, or -1 for unlimited swap.
type swapBytes int64

func (m *swapBytes) String() string { return strconv.FormatInt(int64(*m), 10) }

func (m *swapBytes) Set(s string) error {
	if s == "-1" {
		*m = -1
		return nil
	}
	v, err := units.RAMInBytes(s)
	*m = swapBytes(v)
	return err
}

func (m *swapBytes) Type() string { return "bytes" }

// nanoCPUs is --cpus: a decimal number of CPUs, kept in units of 1e-9.
type nanoCPUs int64

func (c *nanoCPUs) String() string {
	if *c == 0 {
		return ""
	}
	return big.NewRat(int64(*c), 1e9).FloatString(3)
}

func (c *nanoCPUs) Set(s string) error {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return fmt.Errorf("failed to parse %v as a rational number", s)
	}
	n := r.Mul(r, big.NewRat(1e9, 1))
	if !n.IsInt() {
		return fmt.Errorf("value is too precise")
	}
	if n.Sign() < 0 {
		return fmt.Errorf("value must be positive")
	}
	*c = nanoCPUs(n.Num().Int64())
	return nil
}

func (c *nanoCPUs) Type() string { return "decimal" }

// runOptions are the flags of run and create.
type runOptions struct {
	// run only
	detach     bool
	rm         bool
	sigProxy   bool
	detachKeys string

	attach      []string
	interactive bool
	tty         bool
	env         []string
	envFile     []string
	workdir     string
	user        string
	name        string
	volumes     []string
	mounts      []string
	memory      memBytes
	memorySwap  swapBytes
	cpus        nanoCPUs
	cpuShares   int64
	cpusetCpus  string
	pidsLimit   int64
	ulimits     []string
	restart     string
	entrypoint  string
	hostname    string
	readOnly    bool
	tmpfs       []string
	shmSize     memBytes
	capAdd      []string
	capDrop     []string
	privileged  bool
	securityOpt []string
	init        bool
	stopSignal  string
	stopTimeout int
	runtime     string
	platform    string
	labels      []string
	network     string
	netAliases  []string
	ip          string
	publish     []string
	publishAll  bool
	expose      []string
	dns         []string
	dnsSearch   []string
	dnsOptions  []string
	addHosts    []string
	volumesFrom []string

	healthCmd         string
	healthInterval    time.Duration
	healthTimeout     time.Duration
	healthRetries     int
	healthStartPeriod time.Duration
	noHealthcheck     bool
}

// addCreateFlags adds the flags create and run share.
func (o *runOptions) addCreateFlags(f *pflag.FlagSet) {
	f.SetInterspersed(false)
	f.StringSliceVarP(&o.attach, "attach", "a", nil, "Attach to STDIN, STDOUT or STDERR")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Keep STDIN open even if not attached")
	f.BoolVarP(&o.tty, "tty", "t", false, "Allocate a pseudo-TTY")
	f.StringArrayVarP(&o.env, "env", "e", nil, "Set environment variables")
	f.StringArrayVar(&o.envFile, "env-file", nil, "Read in a file of environment variables")
	f.StringVarP(&o.workdir, "workdir", "w", "", "Working directory inside the container")
	f.StringVarP(&o.user, "user", "u", "", "Username or UID (format: <name|uid>[:<group|gid>])")
	f.StringVar(&o.name, "name", "", "Assign a name to the container")
	f.StringArrayVarP(&o.volumes, "volume", "v", nil, "Bind mount a volume")
	f.StringArrayVar(&o.mounts, "mount", nil, "Attach a filesystem mount to the container")
	f.VarP(&o.memory, "memory", "m", "Memory limit")
	f.Var(&o.memorySwap, "memory-swap", "Swap limit equal to memory plus swap: '-1' to enable unlimited swap")
	f.Var(&o.cpus, "cpus", "Number of CPUs")
	f.Int64VarP(&o.cpuShares, "cpu-shares", "c", 0, "CPU shares (relative weight)")
	f.StringVar(&o.cpusetCpus, "cpuset-cpus", "", "CPUs in which to allow execution (0-3, 0,1)")
	f.Int64Var(&o.pidsLimit, "pids-limit", 0, "Tune container pids limit (set -1 for unlimited)")
	f.StringArrayVar(&o.ulimits, "ulimit", nil, "Ulimit options")
	f.StringVar(&o.restart, "restart", "", "Restart policy to apply when a container exits")
	f.StringVar(&o.entrypoint, "entrypoint", "", "Overwrite the default ENTRYPOINT of the image")
	f.StringVarP(&o.hostname, "hostname", "h", "", "Container host name")
	f.BoolVar(&o.readOnly, "read-only", false, "Mount the container's root filesystem as read only")
	f.StringArrayVar(&o.tmpfs, "tmpfs", nil, "Mount a tmpfs directory")
	f.Var(&o.shmSize, "shm-size", "Size of /dev/shm")
	f.StringSliceVar(&o.capAdd, "cap-add", nil, "Add Linux capabilities")
	f.StringSliceVar(&o.capDrop, "cap-drop", nil, "Drop Linux capabilities")
	f.BoolVar(&o.privileged, "privileged", false, "Give extended privileges to this container")
	f.StringArrayVar(&o.securityOpt, "security-opt", nil, "Security Options")
	f.BoolVar(&o.init, "init", false, "Run an init inside the container that forwards signals and reaps processes")
	f.StringVar(&o.stopSignal, "stop-signal", "", "Signal to stop the container")
	f.IntVar(&o.stopTimeout, "stop-timeout", 0, "Timeout (in seconds) to stop a container")
	f.StringVar(&o.runtime, "runtime", "", "Runtime to use for this container")
	f.StringVar(&o.platform, "platform", os.Getenv("DOCKER_DEFAULT_PLATFORM"), "Set platform if server is multi-platform capable")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "Set meta data on a container")
	f.StringVar(&o.network, "network", "", "Connect a container to a network")
	f.StringVar(&o.network, "net", "", "Connect a container to a network")
	_ = f.MarkHidden("net")
	f.Var(&validatedList{v: &o.netAliases}, "network-alias", "Add network-scoped alias for the container")
	f.Var(&validatedList{v: &o.netAliases}, "net-alias", "Add network-scoped alias for the container")
	_ = f.MarkHidden("net-alias")
	f.StringVar(&o.ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	f.VarP(&validatedList{v: &o.publish}, "publish", "p", "Publish a container's port(s) to the host")
	f.BoolVarP(&o.publishAll, "publish-all", "P", false, "Publish all exposed ports to random ports")
	f.Var(&validatedList{v: &o.expose}, "expose", "Expose a port or a range of ports")
	f.Var(&validatedList{v: &o.dns, validate: validateIPAddress}, "dns", "Set custom DNS servers")
	f.Var(&validatedList{v: &o.dnsSearch}, "dns-search", "Set custom DNS search domains")
	f.Var(&validatedList{v: &o.dnsOptions}, "dns-option", "Set DNS options")
	f.Var(&validatedList{v: &o.addHosts, validate: validateExtraHost}, "add-host", "Add a custom host-to-IP mapping (host:ip)")
	f.Var(&validatedList{v: &o.volumesFrom}, "volumes-from", "Mount volumes from the specified container(s)")
	f.StringVar(&o.healthCmd, "health-cmd", "", "Command to run to check health")
	f.DurationVar(&o.healthInterval, "health-interval", 0, "Time between running the check (ms|s|m|h) (default 0s)")
	f.DurationVar(&o.healthTimeout, "health-timeout", 0, "Maximum time to allow one check to run (ms|s|m|h) (default 0s)")
	f.IntVar(&o.healthRetries, "health-retries", 0, "Consecutive failures needed to report unhealthy")
	f.DurationVar(&o.healthStartPeriod, "health-start-period", 0, "Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)")
	f.BoolVar(&o.noHealthcheck, "no-healthcheck", false, "Disable any container-specified HEALTHCHECK")
}

// addRunFlags adds the flags only run has.
func (o *runOptions) addRunFlags(f *pflag.FlagSet) {
	f.BoolVarP(&o.detach, "detach", "d", false, "Run container in background and print container ID")
	f.BoolVar(&o.rm, "rm", false, "Automatically remove the container and its associated anonymous volumes when it exits")
	f.BoolVar(&o.sigProxy, "sig-proxy", true, "Proxy received signals to the process")
	f.StringVar(&o.detachKeys, "detach-keys", "", "Override the key sequence for detaching a container")
}

// containerConfig is what a create request carries.
type containerConfig struct {
	Config     *container.Config
	HostConfig *container.HostConfig
	Networking *network.NetworkingConfig
	// Platform, from --platform, is the platform to pull the image for
	// when it is missing (nil: the daemon's).
	Platform *ocispec.Platform
}

// parse turns the flags (as set in flags) and the IMAGE [COMMAND] [ARG...]
// arguments into a create request, validating as docker does.
func (o *runOptions) parse(flags *pflag.FlagSet, args []string) (*containerConfig, error) {
	var attachStdin, attachStdout, attachStderr bool
	for _, a := range o.attach {
		switch strings.ToLower(a) {
		case "stdin":
			attachStdin = true
		case "stdout":
			attachStdout = true
		case "stderr":
			attachStderr = true
		default:
			return nil, fmt.Errorf("invalid argument %q for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", a)
		}
	}
	if o.interactive {
		attachStdin = true
	}
	if len(o.attach) == 0 {
		attachStdout, attachStderr = true, true
	}

	if o.workdir != "" && !path.IsAbs(o.workdir) {
		return nil, fmt.Errorf("the working directory '%s' is invalid, it needs to be an absolute path", o.workdir)
	}
	if len(o.hostname) > 63 {
		return nil, fmt.Errorf("invalid hostname format: %s", o.hostname)
	}

	env, err := readEnv(o.envFile, o.env)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for _, l := range o.labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return nil, fmt.Errorf("invalid label '%s': empty name", l)
		}
		labels[k] = v
	}

	volumes := map[string]struct{}{}
	var binds []string
	for _, v := range o.volumes {
		bind, anon, err := parseVolume(v)
		if err != nil {
			return nil, err
		}
		if anon != "" {
			volumes[anon] = struct{}{}
		} else {
			binds = append(binds, bind)
		}
	}
	var mounts []mount.Mount
	for _, m := range o.mounts {
		mt, err := parseMount(m)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--mount\" flag: %w", m, err)
		}
		mounts = append(mounts, mt)
	}

	var ulimits []*container.Ulimit
	for _, u := range o.ulimits {
		ul, err := units.ParseUlimit(u)
		if err != nil {
			return nil, fmt.Errorf("invalid argument %q for \"--ulimit\" flag: %w", u, err)
		}
		ulimits = append(ulimits, ul)
	}

	restart, err := parseRestartPolicy(o.restart)
	if err != nil {
		return nil, err
	}
	if o.rm && !restart.IsNone() {
		return nil, errors.New("conflicting options: cannot specify both --restart and --rm")
	}

	health, err := o.healthcheck(flags)
	if err != nil {
		return nil, err
	}
	secOpts, err := parseSecurityOpts(o.securityOpt)
	if err != nil {
		return nil, err
	}

	exposed, bindings, err := parsePortSpecs(o.publish)
	if err != nil {
		return nil, err
	}
	if err := parseExpose(exposed, o.expose); err != nil {
		return nil, err
	}
	var dns []netip.Addr
	for _, d := range o.dns {
		a, err := netip.ParseAddr(d)
		if err != nil {
			return nil, fmt.Errorf("IP address is not correctly formatted: %s", d)
		}
		dns = append(dns, a)
	}
	ep, err := endpointSettings(o.netAliases, o.ip)
	if err != nil {
		return nil, err
	}

	cfg := &container.Config{
		Hostname:     o.hostname,
		User:         o.user,
		AttachStdin:  attachStdin,
		AttachStdout: attachStdout,
		AttachStderr: attachStderr,
		Tty:          o.tty,
		OpenStdin:    o.interactive,
		Env:          env,
		Healthcheck:  health,
		Image:        args[0],
		WorkingDir:   o.workdir,
		Labels:       labels,
		StopSignal:   o.stopSignal,
	}
	if len(args) > 1 {
		cfg.Cmd = args[1:]
	}
	if len(volumes) > 0 {
		cfg.Volumes = volumes
	}
	if len(exposed) > 0 {
		cfg.ExposedPorts = exposed
	}
	if o.entrypoint != "" {
		cfg.Entrypoint = []string{o.entrypoint}
	} else if flags.Changed("entrypoint") {
		cfg.Entrypoint = []string{""}
	}
	if flags.Changed("stop-timeout") {
		t := o.stopTimeout
		cfg.StopTimeout = &t
	}

	host := &container.HostConfig{
		Binds:           binds,
		NetworkMode:     container.NetworkMode(o.network),
		RestartPolicy:   restart,
		AutoRemove:      o.rm,
		CapAdd:          o.capAdd,
		CapDrop:         o.capDrop,
		Privileged:      o.privileged,
		ReadonlyRootfs:  o.readOnly,
		SecurityOpt:     secOpts,
		Runtime:         o.runtime,
		Mounts:          mounts,
		PortBindings:    bindings,
		PublishAllPorts: o.publishAll,
		DNS:             dns,
		DNSSearch:       o.dnsSearch,
		DNSOptions:      o.dnsOptions,
		ExtraHosts:      o.addHosts,
		VolumesFrom:     o.volumesFrom,
		Resources: container.Resources{
			CPUShares:  o.cpuShares,
			Memory:     int64(o.memory),
			NanoCPUs:   int64(o.cpus),
			CpusetCpus: o.cpusetCpus,
			MemorySwap: int64(o.memorySwap),
			Ulimits:    ulimits,
		},
	}
	// --tmpfs PATH[:OPTIONS], as docker's.
	for _, t := range o.tmpfs {
		if host.Tmpfs == nil {
			host.Tmpfs = map[string]string{}
		}
		dst, opts, _ := strings.Cut(t, ":")
		host.Tmpfs[dst] = opts
	}
	host.ShmSize = int64(o.shmSize)
	if flags.Changed("pids-limit") {
		p := o.pidsLimit
		host.PidsLimit = &p
	}
	if flags.Changed("init") {
		i := o.init
		host.Init = &i
	}
	if host.NetworkMode == "" {
		host.NetworkMode = "default"
	}
	cc := &containerConfig{Config: cfg, HostConfig: host, Networking: &network.NetworkingConfig{}}
	// The endpoint of --network-alias and --ip is on the mode's network;
	// a named network gets one even without them, as docker sends it.
	switch target := o.network; {
	case ep != nil && target == "":
		cc.Networking.EndpointsConfig = map[string]*network.EndpointSettings{"default": ep}
	case ep != nil:
		cc.Networking.EndpointsConfig = map[string]*network.EndpointSettings{target: ep}
	case target != "" && !host.NetworkMode.IsContainer():
		cc.Networking.EndpointsConfig = map[string]*network.EndpointSettings{target: {}}
	}
	if o.platform != "" {
		p := parsePlatformFlag(o.platform)
		cc.Platform = &p
	}
	return cc, nil
}

func (o *runOptions) healthcheck(flags *pflag.FlagSet) (*container.HealthConfig, error) {
	set := o.healthCmd != "" || flags.Changed("health-interval") || flags.Changed("health-timeout") ||
		flags.Changed("health-retries") || flags.Changed("health-start-period")
	if o.noHealthcheck {
		if set {
			return nil, errors.New("--no-healthcheck conflicts with --health-* options")
		}
		return &container.HealthConfig{Test: []string{"NONE"}}, nil
	}
	if !set {
		return nil, nil
	}
	if o.healthInterval < 0 {
		return nil, errors.New("--health-interval cannot be negative")
	}
	if o.healthTimeout < 0 {
		return nil, errors.New("--health-timeout cannot be negative")
	}
	if o.healthRetries < 0 {
		return nil, errors.New("--health-retries cannot be negative")
	}
	if o.healthStartPeriod < 0 {
		return nil, errors.New("--health-start-period cannot be negative")
	}
	h := &container.HealthConfig{
		Interval:    o.healthInterval,
		Timeout:     o.healthTimeout,
		StartPeriod: o.healthStartPeriod,
		Retries:     o.healthRetries,
	}
	if o.healthCmd != "" {
		h.Test = []string{"CMD-SHELL", o.healthCmd}
	}
	return h, nil
}

// readEnv reads the --env-file files, then the -e values, as docker does:
// a bare NAME takes its value from this process's environment, and is
// left out when that has none.
func readEnv(files, values []string) ([]string, error) {
	var env []string
	add := func(v string) error {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" {
			return fmt.Errorf("invalid environment variable: %s", v)
		}
		if hasValue {
			env = append(env, v)
		} else if val, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+val)
		}
		return nil
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("env file %s: %w", name, err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimLeft(sc.Text(), " \t")
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			if strings.ContainsAny(strings.SplitN(line, "=", 2)[0], " \t") {
				return nil, fmt.Errorf("env file %s line %d: variable '%s' contains whitespaces", name, n, strings.SplitN(line, "=", 2)[0])
			}
			if err := add(line); err != nil {
				return nil, fmt.Errorf("env file %s line %d: %w", name, n, err)
			}
		}
	}
	for _, v := range values {
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// validBindModes are the modes a -v HOST:CTR:MODE may name.
var validBindModes = map[string]bool{
	"ro": true, "rw": true, "z": true, "Z": true, "nocopy": true,
	"shared": true, "rshared": true, "slave": true, "rslave": true, "private": true, "rprivate": true,
}

// parseVolume parses -v: SOURCE:TARGET[:MODE] is a bind (or named volume)
// kept as written; a lone TARGET is an anonymous volume.
func parseVolume(v string) (bind, anon string, err error) {
	bad := fmt.Errorf("invalid spec: %s: invalid volume specification: '%s'", v, v)
	parts := strings.Split(v, ":")
	switch len(parts) {
	case 1:
		if !path.IsAbs(parts[0]) {
			return "", "", fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"volume\": invalid mount path: '%s' mount path must be absolute", v, v)
		}
		return "", parts[0], nil
	case 2, 3:
		if parts[0] == "" || parts[1] == "" {
			return "", "", bad
		}
		if !path.IsAbs(parts[1]) {
			return "", "", fmt.Errorf("invalid volume specification: '%s': invalid mount config for type \"bind\": invalid mount path: '%s' mount path must be absolute", v, parts[1])
		}
		if len(parts) == 3 {
			for _, m := range strings.Split(parts[2], ",") {
				if !validBindModes[m] {
					return "", "", fmt.Errorf("invalid mode: %s", parts[2])
				}
			}
		}
		return v, "", nil
	}
	return "", "", bad
}

// parseMount parses a --mount value: comma-separated key=value fields.
func parseMount(v string) (mount.Mount, error) {
	m := mount.Mount{Type: mount.TypeVolume}
	for _, field := range strings.Split(v, ",") {
		key, val, hasVal := strings.Cut(field, "=")
		key = strings.ToLower(strings.TrimSpace(key))
		boolVal := func() (bool, error) {
			if !hasVal {
				return true, nil
			}
			switch strings.ToLower(val) {
			case "1", "true":
				return true, nil
			case "0", "false":
				return false, nil
			}
			return false, fmt.Errorf("invalid value for %s: %s", key, val)
		}
		if !hasVal && key != "readonly" && key != "ro" && key != "volume-nocopy" {
			return m, fmt.Errorf("invalid field '%s' must be a key=value pair", field)
		}
		switch key {
		case "type":
			m.Type = mount.Type(strings.ToLower(val))
		case "source", "src":
			m.Source = val
		case "target", "dst", "destination":
			m.Target = val
		case "readonly", "ro":
			b, err := boolVal()
			if err != nil {
				return m, err
			}
			m.ReadOnly = b
		case "bind-propagation":
			if m.BindOptions == nil {
				m.BindOptions = &mount.BindOptions{}
			}
			m.BindOptions.Propagation = mount.Propagation(strings.ToLower(val))
		case "volume-nocopy":
			b, err := boolVal()
			if err != nil {
				return m, err
			}
			if m.VolumeOptions == nil {
				m.VolumeOptions = &mount.VolumeOptions{}
			}
			m.VolumeOptions.NoCopy = b
		case "tmpfs-size":
			n, err := units.RAMInBytes(val)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			if m.TmpfsOptions == nil {
				m.TmpfsOptions = &mount.TmpfsOptions{}
			}
			m.TmpfsOptions.SizeBytes = n
		case "tmpfs-mode":
			n, err := strconv.ParseUint(val, 8, 32)
			if err != nil {
				return m, fmt.Errorf("invalid value for %s: %s", key, val)
			}
			if m.TmpfsOptions == nil {
				m.TmpfsOptions = &mount.TmpfsOptions{}
			}
			m.TmpfsOptions.Mode = os.FileMode(n)
		default:
			return m, fmt.Errorf("unexpected key '%s' in '%s'", key, field)
		}
	}
	if m.Target == "" {
		return m, errors.New("target is required")
	}
	switch m.Type {
	case mount.TypeBind, mount.TypeVolume, mount.TypeTmpfs, mount.TypeImage:
	default:
		return m, fmt.Errorf("invalid mount type: %s", m.Type)
	}
	if m.Type == mount.TypeBind && m.Source == "" {
		return m, errors.New("source is required when specifying bind mounts")
	}
	return m, nil
}

// parseRestartPolicy parses --restart: no, always, unless-stopped, or
// on-failure[:max-retries].
func parseRestartPolicy(v string) (container.RestartPolicy, error) {
	var p container.RestartPolicy
	if v == "" {
		return p, nil
	}
	name, count, hasCount := strings.Cut(v, ":")
	p.Name = container.RestartPolicyMode(name)
	switch p.Name {
	case container.RestartPolicyDisabled, container.RestartPolicyAlways, container.RestartPolicyUnlessStopped:
		if hasCount {
			return p, fmt.Errorf("invalid restart policy: maximum retry count can only be used with 'on-failure'")
		}
	case container.RestartPolicyOnFailure:
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil {
				return p, fmt.Errorf("invalid restart policy format: maximum retry count must be an integer")
			}
			if n < 0 {
				return p, fmt.Errorf("invalid restart policy: maximum retry count cannot be negative")
			}
			p.MaximumRetryCount = n
		}
	default:
		return p, fmt.Errorf("invalid restart policy: unknown policy '%s'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", name)
	}
	return p, nil
}

// parseSecurityOpts passes --security-opt values on, reading the profile
// of seccomp=FILE (anything but unconfined) as docker does.
func parseSecurityOpts(opts []string) ([]string, error) {
	out := make([]string, 0, len(opts))
	for _, o := range opts {
		if o == "no-new-privileges" {
			out = append(out, o)
			continue
		}
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			k, v, ok = strings.Cut(o, ":")
		}
		if !ok {
			return nil, fmt.Errorf("invalid --security-opt: %q", o)
		}
		if k == "seccomp" && v != "unconfined" && v != "builtin" {
			data, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("opening seccomp profile (%s) failed: %w", v, err)
			}
			var b bytes.Buffer
			if err := json.Compact(&b, data); err != nil {
				return nil, fmt.Errorf("compacting json for seccomp profile (%s) failed: %w", v, err)
			}
			o = "seccomp=" + b.String()
		}
		out = append(out, o)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
