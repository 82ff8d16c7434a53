package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
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
	// FreeBytes reports the free space of a directory's file system; nil means
	// upload.FreeBytes (statfs). Tests put a fake here.
	FreeBytes func(path string) (uint64, error)

	bgMu      sync.Mutex
	bgPending map[string]int // table id -> background profiles queued or running
	bgSem     chan struct{}  // one background profile at a time keeps memory flat
	bgWG      sync.WaitGroup
}

// profileLater profiles table id in the background, one table at a time.
func (p *Publisher) profileLater(id string) {
	p.bgMu.Lock()
	if p.bgPending == nil {
		p.bgPending = map[string]int{}
		p.bgSem = make(chan struct{}, 1)
	}
	p.bgPending[id]++
	sem := p.bgSem
	p.bgWG.Add(1)
	p.bgMu.Unlock()
	go func() {
		defer p.bgWG.Done()
		defer func() {
			p.bgMu.Lock()
			if p.bgPending[id]--; p.bgPending[id] <= 0 {
				delete(p.bgPending, id)
			}
			p.bgMu.Unlock()
		}()
		sem <- struct{}{}
		defer func() { <-sem }()
		start := time.Now()
		if _, err := p.ProfileTable(context.Background(), id); err != nil {
			p.Log.Warn("background profiling of an upload failed", "table", id, "error", err)
			return
		}
		p.Log.Info("upload profiled in the background", "table", id, "duration_ms", time.Since(start).Milliseconds())
	}()
}

// ProfilePending reports whether table id is being profiled in the background.
func (p *Publisher) ProfilePending(id string) bool {
	p.bgMu.Lock()
	defer p.bgMu.Unlock()
	return p.bgPending[strings.ToLower(id)] > 0
}

// WaitProfiles waits until every background profile has finished.
func (p *Publisher) WaitProfiles() { p.bgWG.Wait() }

// UploadRequest is one table upload.
type UploadRequest struct {
	Name        string
	Filename    string
	Description string
	Public      bool
	// Spool holds the received file (see NewUploadSpool); when it is nil, Body is received
	// into a spool of its own.
	Spool    *upload.Spool
	Body     io.Reader
	MaxBytes int64
	// Uploader is the signed-in user; IsAdmin lets them replace anyone's upload.
	UploaderEmail string
	IsAdmin       bool
	// Checked says CheckUpload ran when the request began; NameWasFree is what it found.
	// An upload that began while its name was free and finds it taken by another user's
	// upload lost a race and gets a ConflictError (409) rather than ErrForbidden.
	Checked     bool
	NameWasFree bool
}

// Profile states of an UploadResult.
const (
	ProfileComplete = "complete"
	ProfilePending  = "pending"
	ProfileFailed   = "failed"
)

// UploadResult is what an upload published.
type UploadResult struct {
	Table   *store.Table
	Info    *TableInfo
	Ingest  *upload.Result
	Profile *profile.Profile
	// ProfileState is ProfileComplete, ProfilePending (profiled in the background) or
	// ProfileFailed.
	ProfileState string
}

// ErrForbidden means the table exists and belongs to someone else.
var ErrForbidden = errors.New("engine: not allowed")

// ConflictError means the name is taken by a table of another source, or was taken by
// another user's upload while this one was arriving.
type ConflictError struct{ Detail string }

func (e *ConflictError) Error() string { return e.Detail }

// SpaceFactor is how many times its size an upload may need on disk: the received body plus
// the parquet it becomes (the body is removed before the parquet is published).
const SpaceFactor = 1.2

// SpaceError refuses an upload the data directory's disk cannot hold.
type SpaceError struct {
	// Need and Free are in bytes.
	Need, Free uint64
}

func (e *SpaceError) Error() string {
	return fmt.Sprintf("engine: an upload needs about %d bytes free, the disk has %d", e.Need, e.Free)
}

// CheckFreeSpace refuses, with *SpaceError, an upload of size bytes when the data directory's
// file system has less than SpaceFactor times that free.
func (p *Publisher) CheckFreeSpace(size int64) error {
	if size <= 0 {
		return nil
	}
	free := p.FreeBytes
	if free == nil {
		free = upload.FreeBytes
	}
	dir := p.DataDir
	if _, err := os.Stat(p.uploadDir()); err == nil {
		dir = p.uploadDir()
	}
	avail, err := free(dir)
	if err != nil {
		return err
	}
	need := uint64(float64(size) * SpaceFactor)
	if avail < need {
		return &SpaceError{Need: need, Free: avail}
	}
	return nil
}

// BackgroundProfileRows is the row count from which an upload is answered as soon as it is
// queryable and profiled in the background; smaller uploads are profiled before the answer.
const BackgroundProfileRows = 100_000

// uploadDir is the upload source's directory.
func (p *Publisher) uploadDir() string { return filepath.Join(p.DataDir, "extracts", UploadSource) }

// NewUploadSpool starts receiving an upload straight into the upload source's staging area.
// The caller closes it when the request ends.
func (p *Publisher) NewUploadSpool() (*upload.Spool, error) { return upload.NewSpool(p.uploadDir()) }

// CheckUpload says whether the uploader may publish table name: nil with exists=false for a
// free name, nil with exists=true for their own upload (or any upload, for an admin),
// ErrForbidden for another user's upload and *ConflictError for another source's table.
func (p *Publisher) CheckUpload(ctx context.Context, name, uploaderEmail string, isAdmin bool) (exists bool, err error) {
	id := strings.ToLower(name)
	existing, err := p.Store.GetTable(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if info, ok := p.Engine.Catalog().Table(id); ok && info.Source != UploadSource {
			return false, &ConflictError{Detail: fmt.Sprintf("Table %q already exists in source %q; choose another name", id, info.Source)}
		}
		return false, nil
	case err != nil:
		return false, err
	case existing.SourceType != "upload":
		return true, &ConflictError{Detail: fmt.Sprintf("Table %q already exists and comes from source %q; choose another name", id, existing.SourceType)}
	case !isAdmin && !strings.EqualFold(existing.RegisteredBy, uploaderEmail):
		return true, fmt.Errorf("%w: table %q belongs to %s; only its owner or an admin can replace it", ErrForbidden, id, existing.RegisteredBy)
	}
	return true, nil
}

// Upload publishes a file as table req.Name of the upload source: the uploader owns a new
// table, and a re-upload keeps its owner. The ownership check, publishing the data,
// registering it and rebuilding the catalog are one critical section per table (shared with
// deleting a table), and are ordered so that a failure at any step leaves the previous state:
// the data is published first and taken back when registering fails, and data left published
// but unregistered by a crash is quarantined at the next start (QuarantineUnregisteredUploads).
// Bad input comes back as *upload.InputError; nothing is registered then and any previous
// data keeps serving. Tables of BackgroundProfileRows rows or more are profiled in the
// background.
func (p *Publisher) Upload(ctx context.Context, req UploadRequest) (*UploadResult, error) {
	id := strings.ToLower(req.Name)
	owner := strings.ToLower(strings.TrimSpace(req.UploaderEmail))
	if owner == "" {
		return nil, errors.New("engine: upload without an uploader")
	}
	if !req.Checked {
		exists, err := p.CheckUpload(ctx, req.Name, owner, req.IsAdmin)
		if err != nil {
			return nil, err
		}
		req.NameWasFree = !exists
	}
	sp := req.Spool
	if sp == nil {
		var err error
		if sp, err = p.NewUploadSpool(); err != nil {
			return nil, err
		}
		defer sp.Close()
		if err := sp.Receive(ctx, req.Body, req.Filename, req.MaxBytes); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	// Converting happens in the spool's private directory, before the critical section, so
	// that a long conversion does not hold up a delete or another upload of the name.
	res, err := sp.Convert(ctx, req.Name, upload.Options{MaxBytes: req.MaxBytes, Description: req.Description})
	if err != nil {
		return nil, err
	}

	converted := time.Now()
	unlock, err := p.Engine.lockTable(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// The data and its registration change together, never on either side of a backup.
	releaseWrites := p.Engine.holdWrites()
	defer releaseWrites()
	locked := time.Now()
	existing, err := p.Store.GetTable(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		existing = nil
		if info, ok := p.Engine.Catalog().Table(id); ok && info.Source != UploadSource {
			return nil, &ConflictError{Detail: fmt.Sprintf("Table %q already exists in source %q; choose another name", id, info.Source)}
		}
	case err != nil:
		return nil, err
	case existing.SourceType != "upload":
		return nil, &ConflictError{Detail: fmt.Sprintf("Table %q already exists and comes from source %q; choose another name", id, existing.SourceType)}
	case req.IsAdmin || strings.EqualFold(existing.RegisteredBy, owner):
	case req.NameWasFree:
		return nil, &ConflictError{Detail: fmt.Sprintf("Table %q was just created by another user's upload; choose another name", id)}
	default:
		return nil, fmt.Errorf("%w: table %q belongs to %s; only its owner or an admin can replace it", ErrForbidden, id, existing.RegisteredBy)
	}
	narrowed := false
	if existing != nil && existing.IsPublic && !req.Public {
		// Narrow access before the new data is in place, so that no step makes it public.
		// Part of this upload's change, not the change its audit entry records.
		if _, err := p.Store.SetTablePublic(store.WithoutAudit(ctx), id, false); err != nil {
			return nil, err
		}
		narrowed = true
	}
	widenBack := func() {
		if narrowed {
			if _, err := p.Store.SetTablePublic(store.WithoutAudit(context.WithoutCancel(ctx)), id, true); err != nil {
				p.Log.Error("upload: making the table public again after a failed replacement failed", "table", id, "error", err)
			}
		}
	}
	pub, err := sp.Publish(req.Description)
	if err != nil {
		widenBack()
		return nil, err
	}
	published := time.Now()
	t := &store.Table{ID: id, Name: req.Name, SourceTable: sp.Filename(), Description: req.Description,
		RegisteredBy: owner, IsPublic: req.Public}
	// The upload's audit entry (if the caller put one in ctx) commits with the registration.
	store.NoteAudit(ctx, "rows", res.Rows)
	store.NoteAudit(ctx, "format", res.Format)
	if err := p.Store.RegisterUpload(ctx, t, req.IsAdmin); err != nil {
		if rerr := pub.Rollback(); rerr != nil {
			p.Log.Error("upload: taking back data that could not be registered failed; it is quarantined at the next start",
				"table", id, "error", rerr)
		}
		widenBack()
		switch {
		case errors.Is(err, store.ErrConflict):
			return nil, &ConflictError{Detail: fmt.Sprintf("Table %q already exists in another source; choose another name", id)}
		case errors.Is(err, store.ErrNotOwner):
			return nil, &ConflictError{Detail: fmt.Sprintf("Table %q was just created by another user's upload; choose another name", id)}
		}
		return nil, err
	}
	releaseWrites()
	registered := time.Now()
	if d, ok := pub.Digest(); ok {
		p.Engine.PrimeDigest(pub.Path(), d)
	}
	if _, err := p.Engine.RebuildSource(context.WithoutCancel(ctx), UploadSource); err != nil {
		return nil, fmt.Errorf("publish upload: %w", err)
	}
	info, ok := p.Engine.Catalog().Table(id)
	if !ok {
		return nil, fmt.Errorf("publish upload: table %q is not served after the rebuild", id)
	}
	rebuilt := time.Now()
	out := &UploadResult{Table: t, Info: info, Ingest: res}
	defer func() {
		p.Log.Debug("upload stages", "table", id, "rows", res.Rows, "convert_ms", converted.Sub(start).Milliseconds(),
			"lock_wait_ms", locked.Sub(converted).Milliseconds(), "publish_ms", published.Sub(locked).Milliseconds(),
			"register_ms", registered.Sub(published).Milliseconds(), "rebuild_ms", rebuilt.Sub(registered).Milliseconds(),
			"profile_ms", time.Since(rebuilt).Milliseconds(), "profile", out.ProfileState)
	}()
	if res.Rows >= BackgroundProfileRows {
		out.ProfileState = ProfilePending
		p.profileLater(id)
		return out, nil
	}
	unlock()
	prof, err := p.ProfileTable(ctx, id)
	if err != nil {
		p.Log.Warn("profiling the upload failed", "table", id, "error", err)
		out.ProfileState = ProfileFailed
	} else {
		out.ProfileState = ProfileComplete
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
