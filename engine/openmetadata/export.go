package openmetadata

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"da/config"
	"da/store"
)

// Marker is the first line of every file the export writes. Only files that start with it
// are ever replaced or deleted; anything else under docs/ is hand-written and kept.
const Marker = "# AUTO-GENERATED from OpenMetadata catalog"

// StateFile records the last export in the docs directory.
const StateFile = ".catalog_sync_state.json"

// ExportOptions configure an export.
type ExportOptions struct {
	// DocsDir is DATA_DIR/docs.
	DocsDir string
	// Tables are the registered table ids to export, each by its FQN.
	Tables []string
	FQNs   map[string]string
	// DataProduct, when set, selects the metrics of that data product; else FilterTag (an
	// exact tag FQN), when set, filters the metric list.
	DataProduct string
	FilterTag   string
	// MetricLimit is how many metrics are asked for (default 1000).
	MetricLimit int
	Now         func() time.Time
}

// ExportResult says what an export wrote.
type ExportResult struct {
	Metrics int `json:"metrics_count"`
	Tables  int `json:"tables_count"`
	// Failed maps a table id to why it was skipped.
	Failed map[string]string `json:"failed"`
	// Kept lists hand-written files that stood where a generated one would go.
	Kept []string `json:"kept"`
	// Removed lists stale generated files removed.
	Removed []string `json:"removed"`
	// MetricsError is why the metrics could not be listed (their files are then kept).
	MetricsError string `json:"metrics_error,omitempty"`
	LastExport   string `json:"last_export"`
}

// Export writes docs/metrics/<category>/<name>.yml for every metric, docs/metrics/metrics.yml
// as their index and docs/tables/<id>.yml for every table OpenMetadata knows, then removes
// the generated files this export did not write. Hand-written files (without Marker on
// their first line) are never replaced or removed. When the metrics cannot be listed, or
// there are none, the existing metric files are kept as they are.
func Export(ctx context.Context, c *Client, opt ExportOptions) (*ExportResult, error) {
	if c == nil {
		return nil, errors.New("openmetadata: not configured (set OPENMETADATA_URL and OPENMETADATA_TOKEN)")
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	if opt.MetricLimit <= 0 {
		opt.MetricLimit = 1000
	}
	stamp := now().UTC().Format(time.RFC3339)
	res := &ExportResult{Failed: map[string]string{}, Kept: []string{}, Removed: []string{}, LastExport: stamp}
	written := map[string]bool{}
	write := func(rel, source, fqn string, body any) error {
		p := filepath.Join(opt.DocsDir, filepath.FromSlash(rel))
		if gen, exists := generated(p); exists && !gen {
			res.Kept = append(res.Kept, rel)
			return nil
		}
		y, err := yaml.Marshal(body)
		if err != nil {
			return err
		}
		head := Marker + "\n"
		if source != "" {
			head += "# Source: " + source + "\n"
		}
		head += "# Generated: " + stamp + "\n# DO NOT EDIT: the next catalog export replaces this file; write your own files beside it.\n"
		if fqn != "" {
			head += "# FQN: " + fqn + "\n"
		}
		if err := writeAtomic(p, append([]byte(head), y...)); err != nil {
			return err
		}
		written[rel] = true
		return nil
	}

	metrics, err := listMetrics(ctx, c, opt)
	metricsOK := err == nil && len(metrics) > 0
	if err != nil {
		res.MetricsError = err.Error()
	}
	if metricsOK {
		type indexRow struct {
			Name        string `yaml:"name"`
			DisplayName string `yaml:"display_name"`
			Category    string `yaml:"category"`
			Grain       string `yaml:"grain"`
			File        string `yaml:"file"`
		}
		var index []indexRow
		for i := range metrics {
			m := &metrics[i]
			doc := MetricToDoc(m)
			if doc.Name == "" {
				continue
			}
			dir := SanitizeFilename(doc.Category)
			if dir == "" {
				dir = "general"
			}
			rel := "metrics/" + dir + "/" + doc.Name + ".yml"
			if err := write(rel, c.BaseURL()+"/metric/"+m.FullyQualifiedName, m.FullyQualifiedName, []MetricDoc{doc}); err != nil {
				return nil, fmt.Errorf("openmetadata: export %s: %w", rel, err)
			}
			index = append(index, indexRow{Name: doc.Name, DisplayName: doc.DisplayName, Category: doc.Category, Grain: doc.Grain,
				File: dir + "/" + doc.Name + ".yml"})
			res.Metrics++
		}
		sort.Slice(index, func(i, j int) bool { return index[i].File < index[j].File })
		if err := write("metrics/metrics.yml", "", "", map[string]any{"metrics": index}); err != nil {
			return nil, fmt.Errorf("openmetadata: export the metric index: %w", err)
		}
	}

	failedDocs := map[string]bool{}
	for _, id := range opt.Tables {
		id = strings.ToLower(id)
		rel := "tables/" + SanitizeFilename(id) + ".yml"
		fqn := TableFQN(opt.FQNs, id)
		t, err := c.Table(ctx, fqn)
		if err != nil {
			res.Failed[id] = err.Error()
			if !IsNotFound(err) {
				failedDocs[rel] = true // a passing outage must not remove the last export
			}
			continue
		}
		doc := TableToDoc(t)
		if err := write(rel, c.BaseURL()+"/table/"+t.FullyQualifiedName, t.FullyQualifiedName, doc); err != nil {
			return nil, fmt.Errorf("openmetadata: export %s: %w", rel, err)
		}
		res.Tables++
	}

	// Stale generated files: in metrics/ only when the metrics were listed.
	roots := []string{"tables"}
	if metricsOK {
		roots = append(roots, "metrics")
	}
	for _, root := range roots {
		base := filepath.Join(opt.DocsDir, root)
		_ = filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(opt.DocsDir, p)
			rel = filepath.ToSlash(rel)
			if written[rel] || failedDocs[rel] {
				return nil
			}
			if gen, _ := generated(p); gen {
				if os.Remove(p) == nil {
					res.Removed = append(res.Removed, rel)
				}
			}
			return nil
		})
		removeEmptyDirs(base)
	}
	if err := writeJSON(filepath.Join(opt.DocsDir, StateFile), map[string]any{"last_export": stamp,
		"metrics_count": res.Metrics, "tables_count": res.Tables}); err != nil {
		return nil, fmt.Errorf("openmetadata: write %s: %w", StateFile, err)
	}
	return res, nil
}

func listMetrics(ctx context.Context, c *Client, opt ExportOptions) ([]Metric, error) {
	if opt.DataProduct != "" {
		return c.MetricsOfDataProduct(ctx, opt.DataProduct, opt.MetricLimit)
	}
	ms, err := c.Metrics(ctx, opt.MetricLimit)
	if err != nil || opt.FilterTag == "" {
		return ms, err
	}
	var out []Metric
	for _, m := range ms {
		for _, t := range m.Tags {
			if t.TagFQN == opt.FilterTag {
				out = append(out, m)
				break
			}
		}
	}
	return out, nil
}

// generated reports whether the file at p exists and starts with Marker.
func generated(p string) (gen, exists bool) {
	f, err := os.Open(p)
	if err != nil {
		return false, false
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && line == "" {
		return false, true
	}
	return strings.TrimRight(line, "\r\n") == Marker, true
}

// removeEmptyDirs removes the empty directories under root (not root itself).
func removeEmptyDirs(root string) {
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			dirs = append(dirs, p)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		_ = os.Remove(dirs[i]) // fails, as it should, when not empty
	}
}

// ExportRegistered exports every table of the registry and OpenMetadata's metrics to
// dataDir/docs with the configured FQNs, data product and filter tag.
func ExportRegistered(ctx context.Context, st *store.Store, en *Enricher, dataDir string, om config.OpenMetadataConfig) (*ExportResult, error) {
	tables, err := st.ListTables(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(tables))
	for _, t := range tables {
		ids = append(ids, t.ID)
	}
	return Export(ctx, en.Client(), ExportOptions{DocsDir: filepath.Join(dataDir, "docs"), Tables: ids,
		FQNs: om.Tables, DataProduct: om.DataProduct, FilterTag: om.FilterTag})
}
