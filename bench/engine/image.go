package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// The image every engine runs: Debian's busybox-static as the only file,
// the applets the bench calls as symlinks, and an /etc/passwd and
// /etc/group. No registry is involved: capsa takes it as a rootfs tar
// (`capsa import`, as `docker import`), the peers as a docker-archive
// (`docker load`, `podman load`, `ctr image import`), which also carries
// the config every engine would otherwise fill in its own way (PATH).

const (
	busyboxBinary = "/bin/busybox"
	imageRef      = "busybox:latest"
	imagePath     = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
)

var (
	applets   = []string{"sh", "true", "sleep"}
	imageDirs = []string{"bin", "proc", "sys", "dev", "tmp", "etc", "root"}
	imageEtc  = map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
		"etc/group":  "root:x:0:\nnogroup:x:65534:\n",
	}
)

// rootfsTar returns the busybox root filesystem as a tar stream.
func rootfsTar() ([]byte, error) {
	bb, err := os.ReadFile(busyboxBinary)
	if err != nil {
		return nil, fmt.Errorf("busybox-static is needed (scripts/install-bench-deps.sh): %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	add := func(h *tar.Header, body []byte) error {
		h.ModTime = mtime
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	for _, d := range imageDirs {
		if err := add(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755}, nil); err != nil {
			return nil, err
		}
	}
	if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))}, bb); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := add(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}, nil); err != nil {
			return nil, err
		}
	}
	for _, name := range []string{"etc/passwd", "etc/group"} {
		body := []byte(imageEtc[name])
		if err := add(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// dockerArchive wraps layer (an uncompressed rootfs tar) in the format
// `docker save` writes: manifest.json naming the config and the layer, the
// image config, and the layer, tagged imageRef.
func dockerArchive(layer []byte) ([]byte, error) {
	layerSum := sha256.Sum256(layer)
	layerHex := hex.EncodeToString(layerSum[:])
	created := time.Unix(0, 0).UTC()
	config := map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"created":      created,
		"config": map[string]any{
			"Env": []string{imagePath},
			"Cmd": []string{"sh"},
		},
		"rootfs": map[string]any{
			"type":     "layers",
			"diff_ids": []string{"sha256:" + layerHex},
		},
		"history": []map[string]any{{"created": created, "created_by": "capsa bench/engine: busybox-static"}},
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	cfgSum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(cfgSum[:]) + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   cfgName,
		"RepoTags": []string{imageRef},
		"Layers":   []string{layerHex + "/layer.tar"},
	}})
	if err != nil {
		return nil, err
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		body []byte
	}{
		{layerHex + "/layer.tar", layer},
		{cfgName, cfg},
		{"manifest.json", manifest},
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: layerHex + "/", Mode: 0o755, ModTime: created}); err != nil {
		return nil, err
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: created}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
