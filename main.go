// Command da is the data platform for AI analysts: `da serve` runs the server, the other
// sub-commands are the command-line client.
package main

import (
	"os"

	"da/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(cli.Run(os.Args[1:], version, os.Stdout, os.Stderr))
}
