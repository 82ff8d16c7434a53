package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"da/config"
	"da/engine/connectors/demo"
	"da/engine/connectors/upload"
	"da/engine/profile"
	"da/store"
)

// Source directory names of the built-in sources.
const (
	UploadSource = "uploads"
	DemoSource   = "demo"
)

// Publisher turns new data into served tables: it writes the source through the extract
// contract, registers the tables, rebuilds the catalog and profiles what changed. Handlers and
// commands call it; it knows nothing about HTTP.
type Publisher struct {
	Engine   *Engine
	Store    *store.Store
	DataDir  string
	Profiler config.ProfilerConfig
	Log      *slog.Logger
}

// UploadRequest is one table upload.
type UploadRequest struct {
	Name        string
	Filename    string
	Description string
	Public      bool
	Body        io.Reader
	MaxBytes    int64
	// Uploader is the signed-in user; IsAdmin lets them replace anyone's upload.
	UploaderEmail string
	IsAdmin       bool
}

// UploadResult is what an upload published.
type UploadResult struct {
	Table   *store.Table
	Info    *TableInfo
	Ingest  *upload.Result
	Profile *profile.Profile
}

// ErrForbidden means the table exists and belongs to someone else.
var ErrForbidden = errors.New("engine: not allowed")

// ConflictError means the name is taken by a table of another source.
type ConflictError struct{ Detail string }

func (e *ConflictError) Error() string { return e.Detail }

// Upload ingests a file as table req.Name of the upload source, registers it (the uploader
// owns it), rebuilds the catalog and profiles the table. Bad input comes back as
// *upload.InputError; nothing is registered then and any previous data keeps serving.
func (p *Publisher) Upload(ctx context.Context, req UploadRequest) (*UploadResult, error) {
	id := strings.ToLower(req.Name)
	existing, err := p.Store.GetTable(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		existing = nil
	case err != nil:
		return nil, err
	}
	if existing != nil {
		if existing.SourceType != "upload" {
			return nil, &ConflictError{Detail: fmt.Sprintf("Table %q already exists and comes from source %q; choose another name", id, existing.SourceType)}
		}
		if !req.IsAdmin && !strings.EqualFold(existing.RegisteredBy, req.UploaderEmail) {
			return nil, fmt.Errorf("%w: table %q belongs to %s; only its owner or an admin can replace it", ErrForbidden, id, existing.RegisteredBy)
		}
	} else if info, ok := p.Engine.Catalog().Table(id); ok && info.Source != UploadSource {
		return nil, &ConflictError{Detail: fmt.Sprintf("Table %q already exists in source %q; choose another name", id, info.Source)}
	}

	res, err := upload.Ingest(ctx, filepath.Join(p.DataDir, "extracts", UploadSource), req.Name, req.Filename, req.Body,
		upload.Options{MaxBytes: req.MaxBytes, Description: req.Description})
	if err != nil {
		return nil, err
	}
	t := &store.Table{
		ID: id, Name: req.Name, SourceType: "upload", SourceTable: req.Filename, Description: req.Description,
		RegisteredBy: strings.ToLower(req.UploaderEmail), IsPublic: req.Public, ProfileAfterSync: true,
	}
	if existing != nil {
		// A re-upload keeps the owner; public/private follows the new form.
		t.Bucket, t.Folder, t.PrimaryKey, t.SyncSchedule = existing.Bucket, existing.Folder, existing.PrimaryKey, existing.SyncSchedule
		if strings.TrimSpace(req.Description) == "" {
			t.Description = existing.Description
		}
	}
	if err := p.Store.RegisterTable(ctx, t); err != nil {
		return nil, err
	}
	if _, err := p.Engine.RebuildSource(ctx, UploadSource); err != nil {
		return nil, fmt.Errorf("publish upload: %w", err)
	}
	info, ok := p.Engine.Catalog().Table(id)
	if !ok {
		return nil, fmt.Errorf("publish upload: table %q is not served after the rebuild", id)
	}
	out := &UploadResult{Table: t, Info: info, Ingest: res}
	prof, err := p.ProfileTable(ctx, id)
	if err != nil {
		p.Log.Warn("profiling the upload failed", "table", id, "error", err)
	}
	out.Profile = prof
	return out, nil
}

// ProfileTable profiles one served local table and stores the profile.
func (p *Publisher) ProfileTable(ctx context.Context, id string) (*profile.Profile, error) {
	info, ok := p.Engine.Catalog().Table(id)
	if !ok {
		return nil, fmt.Errorf("engine: table %q is not served", id)
	}
	if len(info.Files) == 0 {
		return nil, fmt.Errorf("engine: table %q has no local data to profile", id)
	}
	in := profile.Input{TableID: info.ID, Description: info.Description, Files: info.Files, FileSizeBytes: info.SizeBytes}
	if t, err := p.Store.GetTable(ctx, info.ID); err == nil {
		in.PrimaryKey, in.SyncStrategy = t.PrimaryKey, t.SyncStrategy
		if in.Description == "" {
			in.Description = t.Description
		}
	}
	if !info.ExtractedAt.IsZero() {
		at := info.ExtractedAt
		in.LastSync = &at
	}
	prof, err := profile.ProfileTable(ctx, in, p.Profiler)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(prof)
	if err != nil {
		return nil, err
	}
	if err := p.Store.SaveProfile(ctx, info.ID, raw); err != nil {
		return nil, err
	}
	return prof, nil
}

// ProfileMissing profiles every served local table that has no stored profile or whose data
// changed after its profile was taken.
func (p *Publisher) ProfileMissing(ctx context.Context) (int, error) {
	stored, err := p.Store.ListProfiles(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, info := range p.Engine.Catalog().List() {
		if len(info.Files) == 0 {
			continue
		}
		if sp, ok := stored[info.ID]; ok && !sp.ProfiledAt.Before(info.ExtractedAt) {
			continue
		}
		if _, err := p.ProfileTable(ctx, info.ID); err != nil {
			p.Log.Warn("profiling failed", "table", info.ID, "error", err)
			continue
		}
		n++
	}
	return n, nil
}

// LoadDemo generates the demo source (a no-op when it is already there), registers its tables
// as public, rebuilds and profiles them.
func (p *Publisher) LoadDemo(ctx context.Context, ownerEmail string) error {
	start := time.Now()
	if err := demo.Generate(ctx, filepath.Join(p.DataDir, "extracts", DemoSource)); err != nil {
		return fmt.Errorf("demo data: %w", err)
	}
	for _, spec := range demo.Tables() {
		id := strings.ToLower(spec.Name)
		if t, err := p.Store.GetTable(ctx, id); err == nil && t.SourceType == DemoSource {
			continue // registered before; keep what an admin may have changed
		}
		t := &store.Table{
			ID: id, Name: spec.Name, SourceType: DemoSource, Bucket: DemoSource, SourceTable: spec.Name,
			Description: spec.Description, PrimaryKey: spec.PrimaryKey, Folder: spec.Folder,
			RegisteredBy: ownerEmail, IsPublic: true, ProfileAfterSync: true,
		}
		if err := p.Store.RegisterTable(ctx, t); err != nil {
			return err
		}
	}
	if _, err := p.Engine.RebuildSource(ctx, DemoSource); err != nil {
		return err
	}
	n, err := p.ProfileMissing(ctx)
	if err != nil {
		return err
	}
	p.Log.Info("demo data ready", "tables", len(demo.Tables()), "profiled", n, "duration_ms", time.Since(start).Milliseconds())
	return nil
}
