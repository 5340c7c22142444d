// Command capsa is capsa's command line, a docker-compatible client of
// capsad's Docker Engine API.
package main

import (
	"context"
	"os"

	"github.com/capsa-dev/capsa/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:]))
}
