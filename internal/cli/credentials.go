package cli

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/distribution/reference"
	registrytypes "github.com/moby/moby/api/types/registry"
)

// Registry credentials live where docker keeps them: config.json's "auths"
// (base64 "user:password", or an identity token), unless config.json names a
// credential helper for the registry, "credHelpers": {"host": "NAME"} or else
// "credsStore": "NAME" for every registry; then the program
// docker-credential-NAME keeps them (credentials_helper.go) and "auths" only
// gets an empty entry for the host, as docker writes it.
//
// config.json is read and written as raw fields rather than through
// docker/cli's configfile.ConfigFile: that type drops every key it does not
// know, and capsa shares the file with docker versions newer than the one
// capsa is built against.

// dockerConfig is config.json: its raw fields (kept on write) and those
// capsa reads.
type dockerConfig struct {
	path        string
	raw         map[string]json.RawMessage
	auths       map[string]authEntry
	credsStore  string
	credHelpers map[string]string
}

// authEntry is one entry of config.json's "auths".
type authEntry struct {
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
}

// readDockerConfig reads config.json; a missing file is an empty config.
func readDockerConfig() (*dockerConfig, error) {
	p, err := dockerConfigPath()
	if err != nil {
		return nil, err
	}
	cfg := &dockerConfig{path: p, raw: map[string]json.RawMessage{}, auths: map[string]authEntry{}}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, nil
	}
	if err != nil {
		return nil, fmt.Errorf("docker config %s: %w", p, err)
	}
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &cfg.raw); err != nil {
			return nil, fmt.Errorf("docker config %s: %w", p, err)
		}
	}
	fields := []struct {
		key string
		dst any
	}{{"auths", &cfg.auths}, {"credsStore", &cfg.credsStore}, {"credHelpers", &cfg.credHelpers}}
	for _, f := range fields {
		v, ok := cfg.raw[f.key]
		if !ok {
			continue
		}
		if err := json.Unmarshal(v, f.dst); err != nil {
			return nil, fmt.Errorf("docker config %s: %s: %w", p, f.key, err)
		}
	}
	if cfg.auths == nil { // "auths": null
		cfg.auths = map[string]authEntry{}
	}
	return cfg, nil
}

// save writes config.json (mode 0600) through a temporary file, an fsync
// and a rename.
func (cfg *dockerConfig) save() error {
	a, err := json.Marshal(cfg.auths)
	if err != nil {
		return err
	}
	cfg.raw["auths"] = a
	b, err := json.MarshalIndent(cfg.raw, "", "\t")
	if err != nil {
		return err
	}
	p := cfg.path
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".config.json.*")
	if err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("docker config %s: %w", p, err)
	}
	return nil
}

// helperFor is the credential helper for server (a serverKey), as docker
// chooses it: credHelpers[server], else credsStore; nil for the file.
func (cfg *dockerConfig) helperFor(server string) *credentialHelper {
	if name, ok := cfg.credHelpers[server]; ok && name != "" {
		return newCredentialHelper(name)
	}
	if cfg.credsStore != "" {
		return newCredentialHelper(cfg.credsStore)
	}
	return nil
}

// serverKeys are the keys config.json may hold server's credentials under:
// the host, and (for registries other than Docker Hub) the host with a
// scheme, as older docker versions wrote them.
func serverKeys(server string) []string {
	if server == dockerHubServer {
		return []string{server}
	}
	return []string{server, "https://" + server, "http://" + server}
}

// storeCredentials keeps ac (ServerAddress a serverKey) where config.json
// says: through the registry's credential helper, with an empty "auths"
// entry as docker writes, or in "auths". It returns config.json's path
// when the credentials went into the file, "" when a helper took them.
func storeCredentials(ac registrytypes.AuthConfig) (string, error) {
	cfg, err := readDockerConfig()
	if err != nil {
		return "", err
	}
	server := ac.ServerAddress
	if h := cfg.helperFor(server); h != nil {
		if err := h.store(ac); err != nil {
			return "", err
		}
		cfg.auths[server] = authEntry{}
		return "", cfg.save()
	}
	e := authEntry{IdentityToken: ac.IdentityToken}
	if ac.Username != "" || ac.Password != "" {
		e.Auth = base64.StdEncoding.EncodeToString([]byte(ac.Username + ":" + ac.Password))
	}
	cfg.auths[server] = e
	return cfg.path, cfg.save()
}

// removeCredentials erases server's credentials from config.json and from
// its credential helper; it reports whether there were any.
func removeCredentials(server string) (bool, error) {
	cfg, err := readDockerConfig()
	if err != nil {
		return false, err
	}
	inFile := false
	for _, k := range serverKeys(server) {
		if _, ok := cfg.auths[k]; ok {
			delete(cfg.auths, k)
			inFile = true
		}
	}
	found := inFile
	var helperErr error
	if h := cfg.helperFor(server); h != nil {
		for _, k := range serverKeys(server) {
			erased, err := h.erase(k)
			if err != nil {
				helperErr = err
				break
			}
			found = found || erased
		}
	}
	if inFile {
		if err := cfg.save(); err != nil {
			return false, err
		}
	}
	return found, helperErr
}

// lookupCredentials are server's credentials (ServerAddress set even when
// there are none): from its credential helper when config.json names one,
// else from "auths".
func lookupCredentials(server string) (registrytypes.AuthConfig, error) {
	cfg, err := readDockerConfig()
	if err != nil {
		return registrytypes.AuthConfig{}, err
	}
	if h := cfg.helperFor(server); h != nil {
		ac, _, err := h.get(server)
		return ac, err
	}
	ac := registrytypes.AuthConfig{ServerAddress: server}
	for _, k := range serverKeys(server) {
		e, ok := cfg.auths[k]
		if !ok {
			continue
		}
		ac.IdentityToken = e.IdentityToken
		if e.Auth != "" {
			b, err := base64.StdEncoding.DecodeString(e.Auth)
			if err != nil {
				return ac, fmt.Errorf("docker config %s: auths %s: %w", cfg.path, k, err)
			}
			ac.Username, ac.Password, _ = strings.Cut(string(b), ":")
		}
		break
	}
	return ac, nil
}

// registryAuthFor is the X-Registry-Auth header for ref's registry from
// config.json or its credential helper ("" when there are no credentials
// for it).
func registryAuthFor(ref reference.Named) (string, error) {
	ac, err := lookupCredentials(serverKey(reference.Domain(ref)))
	if err != nil {
		return "", err
	}
	if ac.Username == "" && ac.Password == "" && ac.IdentityToken == "" {
		return "", nil
	}
	b, err := json.Marshal(ac)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}
