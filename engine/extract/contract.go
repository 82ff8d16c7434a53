// Package extract reads and writes the extract.duckdb contract every connector produces:
//
//	DATA_DIR/extracts/<source>/extract.duckdb   _meta (+ optional _remote_attach) and one view per table
//	DATA_DIR/extracts/<source>/data/<table>.parquet          a local table in one file
//	DATA_DIR/extracts/<source>/data/<table>/*.parquet        a local table in shards (e.g. monthly)
//
// The orchestrator needs nothing else to publish a source.
package extract

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// FileName is the contract database inside a source directory.
const FileName = "extract.duckdb"

// Query modes of a _meta row.
const (
	ModeLocal  = "local"
	ModeRemote = "remote"
)

// MetaDDL creates the _meta table exactly as the contract defines it (column order matters).
const MetaDDL = `CREATE TABLE _meta (
	table_name VARCHAR NOT NULL,
	description VARCHAR,
	rows BIGINT,
	size_bytes BIGINT,
	extracted_at TIMESTAMP,
	query_mode VARCHAR DEFAULT 'local'
)`

// RemoteAttachDDL creates the optional _remote_attach table. token_env names an environment
// variable; the secret itself is never stored.
const RemoteAttachDDL = `CREATE TABLE _remote_attach (
	alias VARCHAR,
	extension VARCHAR,
	url VARCHAR,
	token_env VARCHAR
)`

var identRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]{0,63}$`)

// ValidIdent reports whether s may be used as a source, table, alias or extension name in SQL.
func ValidIdent(s string) bool { return identRE.MatchString(s) }

// DataDir is where a source keeps its parquet files.
func DataDir(sourceDir string) string { return filepath.Join(sourceDir, "data") }

// TableFiles returns the parquet files of a local table by the contract's convention:
// data/<table>.parquet, or else the sorted *.parquet files of data/<table>/. It returns nil
// when the table has no local files (remote tables).
func TableFiles(sourceDir, table string) []string {
	single := filepath.Join(DataDir(sourceDir), table+".parquet")
	if fi, err := os.Stat(single); err == nil && fi.Mode().IsRegular() {
		return []string{single}
	}
	shards, _ := filepath.Glob(filepath.Join(DataDir(sourceDir), table, "*.parquet"))
	sort.Strings(shards)
	return shards
}
