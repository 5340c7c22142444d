package cli

import (
	"encoding/json"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

const (
	defaultImagesFormat        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	defaultImagesDigestsFormat = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
)

var imageHeaders = map[string]string{
	"Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST", "ID": "IMAGE ID",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	"Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
	"VirtualSize": "SIZE",
}

func (c *CLI) newImagesCommand() *cobra.Command {
	var (
		quiet, all, noTrunc, digests bool
		format                       string
		filters                      []string
	)
	cmd := &cobra.Command{
		Use:   "images [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  requiresRangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := parseFilters(filters)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				f.Add("reference", args[0])
			}
			cl, err := c.Client(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cl.ImageList(cmd.Context(), client.ImageListOptions{All: all, Filters: f})
			if err != nil {
				return err
			}
			switch {
			case format != "":
			case quiet:
				format = "{{.ID}}"
			case digests:
				format = defaultImagesDigestsFormat
			default:
				format = defaultImagesFormat
			}
			return renderImages(c.Out, format, res.Items, !noTrunc, quiet, time.Now())
		},
	}
	fl := commandFlags(cmd)
	// capsa makes no intermediate images, so -a lists what the default does.
	fl.BoolVarP(&all, "all", "a", false, "Show all images (default hides intermediate images)")
	fl.BoolVar(&digests, "digests", false, "Show digests")
	fl.VarP(newListValue(&filters), "filter", "f", "Filter output based on conditions provided")
	fl.StringVar(&format, "format", "", "Format output using a custom template")
	fl.BoolVar(&noTrunc, "no-trunc", false, "Don't truncate output")
	fl.BoolVarP(&quiet, "quiet", "q", false, "Only show image IDs")
	return cmd
}

// renderImages writes the images listing: one row per repository:tag of
// each image (<none> for untagged ones), newest first. When the format
// shows digests (--digests), a tag row is repeated for each repo digest of
// its repository, as docker's.
func renderImages(out io.Writer, format string, items []image.Summary, trunc, quiet bool, now time.Time) error {
	f, err := newFormatter(out, format, imageHeaders)
	if err != nil {
		return StatusError{Status: err.Error(), StatusCode: 1}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].Created > items[j].Created })
	seen := map[string]bool{}
	for _, img := range items {
		if quiet {
			row := &imageRow{img: img, trunc: trunc, now: now}
			if !seen[row.ID()] {
				seen[row.ID()] = true
				if err := f.Write(row); err != nil {
					return err
				}
			}
			continue
		}
		for _, row := range imageRows(img, trunc, strings.Contains(format, ".Digest"), now) {
			if err := f.Write(row); err != nil {
				return err
			}
		}
	}
	return f.Flush()
}

// isDanglingSummary is docker's: no tag and no digest, or the <none>
// placeholders of API versions before 1.43.
func isDanglingSummary(img image.Summary) bool {
	if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
		return true
	}
	return len(img.RepoTags) == 1 && img.RepoTags[0] == "<none>:<none>" && len(img.RepoDigests) == 1 && img.RepoDigests[0] == "<none>@<none>"
}

// imageRows are an image's rows as docker's CLI makes them: per
// repository, a row per tag (repeated per repo digest of that repository
// when digests are shown), and a <none> tag row for a repository that only
// has digests; <none> <none> for a dangling image. Rows are sorted by
// repository, tag and digest (docker's order is a map's).
func imageRows(img image.Summary, trunc, digests bool, now time.Time) []*imageRow {
	if isDanglingSummary(img) {
		return []*imageRow{{img: img, repo: "<none>", tag: "<none>", digest: "<none>", trunc: trunc, now: now}}
	}
	repoTags, repoDigests := map[string][]string{}, map[string][]string{}
	for _, t := range img.RepoTags {
		ref, err := reference.ParseNormalizedNamed(t)
		if err != nil {
			continue
		}
		if nt, ok := ref.(reference.NamedTagged); ok {
			repo := reference.FamiliarName(ref)
			repoTags[repo] = append(repoTags[repo], nt.Tag())
		}
	}
	for _, d := range img.RepoDigests {
		ref, err := reference.ParseNormalizedNamed(d)
		if err != nil {
			continue
		}
		if c, ok := ref.(reference.Canonical); ok {
			repo := reference.FamiliarName(ref)
			repoDigests[repo] = append(repoDigests[repo], c.Digest().String())
		}
	}
	var rows []*imageRow
	add := func(repo, tag, digest string) {
		rows = append(rows, &imageRow{img: img, repo: repo, tag: tag, digest: digest, trunc: trunc, now: now})
	}
	for repo, tags := range repoTags {
		ds := repoDigests[repo]
		delete(repoDigests, repo)
		if !digests {
			ds = nil
		}
		for _, tag := range tags {
			if len(ds) == 0 {
				add(repo, tag, "<none>")
				continue
			}
			for _, d := range ds {
				add(repo, tag, d)
			}
		}
	}
	for repo, ds := range repoDigests {
		if digests {
			for _, d := range ds {
				add(repo, "<none>", d)
			}
		} else {
			add(repo, "<none>", "")
		}
	}
	sort.SliceStable(rows, func(i, j int) bool {
		a, b := rows[i], rows[j]
		if a.repo != b.repo {
			return a.repo < b.repo
		}
		if a.tag != b.tag {
			return a.tag < b.tag
		}
		return a.digest < b.digest
	})
	return rows
}

// imageRow is one line of the images listing.
type imageRow struct {
	img               image.Summary
	repo, tag, digest string
	trunc             bool
	now               time.Time
}

func (r *imageRow) ID() string {
	if r.trunc {
		return truncateID(r.img.ID)
	}
	return r.img.ID
}

func (r *imageRow) Repository() string { return r.repo }
func (r *imageRow) Tag() string        { return r.tag }

func (r *imageRow) Digest() string {
	if r.digest == "" {
		return "<none>"
	}
	return r.digest
}

func (r *imageRow) CreatedSince() string {
	if r.img.Created == 0 {
		return "N/A"
	}
	return units.HumanDuration(r.now.UTC().Sub(time.Unix(r.img.Created, 0))) + " ago"
}

func (r *imageRow) CreatedAt() string { return time.Unix(r.img.Created, 0).String() }

func (r *imageRow) Size() string { return units.HumanSizeWithPrecision(float64(r.img.Size), 3) }

func (r *imageRow) VirtualSize() string { return units.HumanSize(float64(r.img.Size)) }

func (r *imageRow) SharedSize() string {
	if r.img.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.SharedSize))
}

func (r *imageRow) UniqueSize() string {
	if r.img.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.Size - r.img.SharedSize))
}

func (r *imageRow) Containers() string {
	if r.img.Containers == -1 {
		return "N/A"
	}
	return units.HumanSize(float64(r.img.Containers))
}

// MarshalJSON is what {{json .}} and --format json print.
func (r *imageRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{
		"Containers": r.Containers(), "CreatedAt": r.CreatedAt(), "CreatedSince": r.CreatedSince(),
		"Digest": r.Digest(), "ID": r.ID(), "Repository": r.repo, "SharedSize": r.SharedSize(),
		"Size": r.Size(), "Tag": r.tag, "UniqueSize": r.UniqueSize(), "VirtualSize": r.VirtualSize(),
	})
}
