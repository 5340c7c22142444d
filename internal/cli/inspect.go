package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/spf13/cobra"
)

// inspected is one object for inspect: its typed value (for templates)
// and the daemon's raw JSON (for the default output and the fallback).
type inspected struct {
	typed any
	raw   json.RawMessage
}

type inspectFunc func(ctx context.Context, cl *client.Client, name string) (inspected, error)

func (c *CLI) newInspectCommand() *cobra.Command {
	var format, typ string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on capsa objects",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var get inspectFunc
			switch typ {
			case "":
				get = func(ctx context.Context, cl *client.Client, name string) (inspected, error) {
					o, err := inspectContainer(size)(ctx, cl, name)
					if cerrdefs.IsNotFound(err) {
						o, err = inspectImage(ctx, cl, name)
					}
					if cerrdefs.IsNotFound(err) {
						o, err = inspectNetwork(ctx, cl, name)
					}
					if cerrdefs.IsNotFound(err) {
						o, err = inspectVolume(ctx, cl, name)
					}
					if cerrdefs.IsNotFound(err) {
						return o, fmt.Errorf("Error: No such object: %s", name)
					}
					return o, err
				}
			case "container":
				get = inspectContainer(size)
			case "image":
				get = inspectImage
			case "network":
				get = inspectNetwork
			case "volume":
				get = inspectVolume
			default:
				return StatusError{Status: fmt.Sprintf("%q is not a valid value for --type", typ), StatusCode: 1}
			}
			return c.inspectAll(cmd.Context(), args, format, get)
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&format, "format", "f", "", "Format output using a custom template")
	f.BoolVarP(&size, "size", "s", false, "Display total file sizes if the type is container")
	f.StringVar(&typ, "type", "", "Only inspect objects of the given type")
	return cmd
}

func (c *CLI) newContainerInspectCommand() *cobra.Command {
	var format string
	var size bool
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Display detailed information on one or more containers",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspectAll(cmd.Context(), args, format, inspectContainer(size))
		},
	}
	f := commandFlags(cmd)
	f.StringVarP(&format, "format", "f", "", "Format output using a custom template")
	f.BoolVarP(&size, "size", "s", false, "Display total file sizes")
	return cmd
}

func (c *CLI) newImageInspectCommand() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  requiresMinArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspectAll(cmd.Context(), args, format, inspectImage)
		},
	}
	commandFlags(cmd).StringVarP(&format, "format", "f", "", "Format output using a custom template")
	return cmd
}

func inspectContainer(size bool) inspectFunc {
	return func(ctx context.Context, cl *client.Client, name string) (inspected, error) {
		res, err := cl.ContainerInspect(ctx, name, client.ContainerInspectOptions{Size: size})
		if err != nil {
			return inspected{}, err
		}
		return inspected{typed: res.Container, raw: res.Raw}, nil
	}
}

func inspectImage(ctx context.Context, cl *client.Client, name string) (inspected, error) {
	var raw bytes.Buffer
	res, err := cl.ImageInspect(ctx, name, client.ImageInspectWithRawResponse(&raw))
	if err != nil {
		return inspected{}, err
	}
	return inspected{typed: res.InspectResponse, raw: raw.Bytes()}, nil
}

// inspectAll prints the objects as an indented JSON array, or each through
// the --format template, and the errors after, as docker does.
func (c *CLI) inspectAll(ctx context.Context, names []string, format string, get inspectFunc) error {
	cl, err := c.Client(ctx)
	if err != nil {
		return err
	}
	var objs []inspected
	var errs []string
	for _, name := range names {
		o, err := get(ctx, cl, name)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		objs = append(objs, o)
	}
	if format == "" {
		if err := writeJSONArray(c.Out, objs); err != nil {
			return err
		}
	} else {
		for _, o := range objs {
			if err := inspectTemplate(c.Out, format, o); err != nil {
				return err
			}
		}
	}
	return multiError(errs)
}

func writeJSONArray(out io.Writer, objs []inspected) error {
	if len(objs) == 0 {
		_, err := io.WriteString(out, "[]\n")
		return err
	}
	raws := make([][]byte, len(objs))
	for i, o := range objs {
		raws[i] = bytes.TrimSpace(o.raw)
	}
	all := append([]byte("["), bytes.Join(raws, []byte(","))...)
	all = append(all, ']')
	var buf bytes.Buffer
	if err := json.Indent(&buf, all, "", "    "); err != nil {
		return fmt.Errorf("inspect: daemon's answer is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := out.Write(buf.Bytes())
	return err
}

// inspectTemplate renders one object with --format: on its typed value
// first and, when that fails (a field the client's types do not know), on
// its raw JSON decoded as maps.
func inspectTemplate(out io.Writer, format string, o inspected) error {
	t, err := parseTemplate(format)
	if err != nil {
		return StatusError{Status: err.Error(), StatusCode: 1}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, o.typed); err != nil {
		buf.Reset()
		dec := json.NewDecoder(bytes.NewReader(o.raw))
		dec.UseNumber()
		var m map[string]any
		if derr := dec.Decode(&m); derr != nil {
			return StatusError{Status: "template: " + err.Error(), StatusCode: 1}
		}
		if err2 := t.Execute(&buf, m); err2 != nil {
			return StatusError{Status: "template: " + strings.TrimPrefix(err.Error(), "template: "), StatusCode: 1}
		}
	}
	buf.WriteByte('\n')
	_, err = out.Write(buf.Bytes())
	return err
}
