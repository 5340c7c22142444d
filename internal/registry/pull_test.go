package registry

import (
	"errors"
	"net/http"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/capsa-dev/capsa/internal/errdefs"
)

type okTransport struct{}

func (okTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: http.NoBody}, nil
}

func TestHTTPPolicy(t *testing.T) {
	for _, c := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"http://127.0.0.1:5000/v2/", false, true},
		{"http://localhost:5000/v2/", false, true},
		{"http://[::1]:5000/v2/", false, true},
		{"http://10.0.0.1:5000/v2/", false, false},
		{"http://registry.example/v2/", false, false},
		{"http://registry.example/v2/", true, true},
		{"https://registry.example/v2/", false, true},
	} {
		req, _ := http.NewRequest("GET", c.url, nil)
		_, err := (&httpPolicy{next: okTransport{}, insecure: c.insecure}).RoundTrip(req)
		if c.ok && err != nil || !c.ok && !errors.Is(err, errdefs.ErrPermission) {
			t.Errorf("%s (insecure %v): %v", c.url, c.insecure, err)
		}
	}
}

func TestPick(t *testing.T) {
	ms := []ocispec.Descriptor{
		{Digest: "sha256:a", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
		{Digest: "sha256:b", Platform: &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
		{Digest: "sha256:c", Platform: &ocispec.Platform{OS: "windows", Architecture: "amd64"}},
		{Digest: "sha256:d", Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
	}
	for _, c := range []struct {
		p    ocispec.Platform
		want string
	}{
		{ocispec.Platform{OS: "linux", Architecture: "amd64"}, "sha256:d"},
		{ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "sha256:b"},
		{ocispec.Platform{OS: "linux", Architecture: "s390x"}, ""},
	} {
		d, ok := pick(ms, c.p)
		if string(d.Digest) != c.want || ok != (c.want != "") {
			t.Errorf("pick %s: %s %v, want %s", platformString(c.p), d.Digest, ok, c.want)
		}
	}
}
