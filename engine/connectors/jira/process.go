package jira

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"
)

// Event is one webhook delivery as the queue keeps it.
type Event struct {
	// Name is webhookEvent (jira:issue_updated, comment_deleted, ...).
	Name string
	// Body is the decoded payload.
	Body map[string]any
}

// EventKey is the issue key an event is about (issue.key, else issue_key), or "".
func EventKey(body map[string]any) string {
	if k := str(dig(body, "issue", "key")); k != "" {
		return k
	}
	return str(body["issue_key"])
}

// Processor applies events to the store: it fetches fresh issues, rewrites their shards and
// marks the source for publishing.
type Processor struct {
	Store *Store
	// API fetches issues; nil means "use the embedded issue only".
	API *Client
	// SLA fetches the SLA overlay with the service account; nil skips it.
	SLA *Client
	// AttachmentMax is the largest attachment downloaded (default 50 MB); <0 disables downloads.
	AttachmentMax int64
	// Changed is called after shards changed (the publisher's signal); may be nil.
	Changed func()
}

// Result of one processed event, for logs and tests.
type Result struct {
	Keys    []string // issues touched
	Skipped string   // why nothing changed ("" when something did)
}

// Process applies one event. A returned error is transient: the event stays queued.
func (p *Processor) Process(ctx context.Context, ev Event) (Result, error) {
	name := strings.ToLower(ev.Name)
	switch {
	case name == "jira:issue_deleted":
		key := EventKey(ev.Body)
		if !ValidKey(key) {
			return Result{Skipped: "no issue key"}, nil
		}
		found, err := p.DeleteIssue(ctx, key)
		if err != nil {
			return Result{}, err
		}
		if !found {
			return Result{Keys: []string{key}, Skipped: "nothing to delete"}, nil
		}
		return Result{Keys: []string{key}}, nil
	case strings.HasPrefix(name, "worklog_"):
		// Worklogs are not in the tables: a created, updated or deleted worklog changes nothing.
		return Result{Skipped: "worklog events change no table"}, nil
	case strings.HasPrefix(name, "issuelink_"):
		// Link events carry only numeric ids: refresh both ends from Jira.
		var res Result
		linkID := str(dig(ev.Body, "issueLink", "id"))
		for _, f := range []string{"sourceIssueId", "destinationIssueId"} {
			id := str(dig(ev.Body, "issueLink", f))
			if id == "" {
				continue
			}
			var drop func(Issue)
			if name == "issuelink_deleted" {
				drop = func(is Issue) { dropFromList(is.Fields(), "issuelinks", linkID) }
			}
			key, err := p.refresh(ctx, id, nil, drop)
			if err != nil {
				return res, err
			}
			if key != "" {
				res.Keys = append(res.Keys, key)
			}
		}
		if len(res.Keys) == 0 {
			res.Skipped = "linked issues unknown"
		}
		return res, nil
	}
	key := EventKey(ev.Body)
	if !ValidKey(key) {
		return Result{Skipped: "no issue key"}, nil
	}
	embedded, _ := ev.Body["issue"].(map[string]any)
	var mutate func(Issue)
	if name == "comment_deleted" {
		id := str(dig(ev.Body, "comment", "id"))
		mutate = func(is Issue) {
			if c, ok := is.Fields()["comment"].(map[string]any); ok {
				dropFromList(c, "comments", id)
			}
		}
	}
	got, err := p.refresh(ctx, key, Issue(embedded), mutate)
	if err != nil {
		return Result{}, err
	}
	if got == "" {
		return Result{Keys: []string{key}, Skipped: "unchanged"}, nil
	}
	return Result{Keys: []string{key}}, nil
}

// dropFromList removes the element with this id from m[field] (a list of objects).
func dropFromList(m map[string]any, field, id string) {
	l, ok := m[field].([]any)
	if !ok || id == "" {
		return
	}
	out := l[:0:0]
	for _, e := range l {
		if str(dig(e, "id")) != id {
			out = append(out, e)
		}
	}
	m[field] = out
}

// errGone means Jira no longer has the issue and we have nothing to fall back on.
var errGone = errors.New("jira: issue is gone")

// refresh fetches the issue keyOrID fresh (falling back to the stored issue with mutate
// applied, or to the embedded one) and rewrites its rows. It returns the key written, or
// "" when nothing changed.
func (p *Processor) refresh(ctx context.Context, keyOrID string, embedded Issue, mutate func(Issue)) (string, error) {
	var fresh Issue
	var fetchErr error
	if p.API != nil {
		fresh, fetchErr = p.API.Issue(ctx, keyOrID)
		if fetchErr == nil && !ValidKey(fresh.Key()) {
			fetchErr = fmt.Errorf("jira: issue %s came back without a valid key", keyOrID)
		}
	} else {
		fetchErr = errors.New("jira: no API client")
	}
	key := keyOrID
	if fetchErr == nil {
		key = fresh.Key()
		links, err := p.API.RemoteLinks(ctx, key)
		if err != nil {
			links = []any{}
		}
		fresh["_remote_links"] = links
		p.overlaySLA(ctx, fresh)
	}
	if !ValidKey(key) {
		if fetchErr != nil && !errors.Is(fetchErr, ErrNotFound) {
			return "", fetchErr // an id we cannot resolve yet: try again later
		}
		return "", nil
	}
	unlock, err := p.Store.issueLock(key)
	if err != nil {
		return "", err
	}
	defer unlock()
	old, err := p.Store.LoadIssue(key)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		old = nil // an unreadable raw file is replaced
	}
	next := fresh
	if fetchErr != nil {
		switch {
		case old != nil && old["_deleted_at"] != nil:
			return "", nil // deleted: a late event must not bring it back
		case old != nil && mutate != nil:
			next = old
		case len(embedded) > 0 && embedded["fields"] != nil && ValidKey(Issue(embedded).Key()):
			next = embedded
			if old != nil && old["_remote_links"] != nil {
				next["_remote_links"] = old["_remote_links"]
			}
		case errors.Is(fetchErr, ErrNotFound):
			return "", nil
		default:
			return "", fetchErr
		}
	}
	if mutate != nil {
		mutate(next)
	}
	// A replay (an older state than the one stored) changes nothing.
	if old != nil && old["_deleted_at"] == nil && !next.Updated().IsZero() && next.Updated().Before(old.Updated()) {
		return "", nil
	}
	delete(next, "_deleted_at")
	next["_synced_at"] = time.Now().UTC().Format(time.RFC3339Nano)
	if err := p.writeIssue(ctx, next, old); err != nil {
		return "", err
	}
	if p.Changed != nil {
		p.Changed()
	}
	unlock()
	unlock = func() {}
	p.downloadAttachments(ctx, next)
	return key, nil
}

// writeIssue rewrites the issue's rows in its month, removes them from the month it had
// before (a moved created date), then saves the raw JSON. Shards go first: if the process
// dies in between, the queued event runs again and still sees the old month.
func (p *Processor) writeIssue(ctx context.Context, is, old Issue) error {
	rows, err := Transform(is, p.Store.site)
	if err != nil {
		return err
	}
	key := is.Key()
	p.localPaths(key, rows)
	month := is.Month()
	// Only the tables whose rows of this issue change are rewritten (an edit of the summary
	// touches issues alone), when the stored issue is in the same month.
	var changed map[string]bool
	if old != nil && old["_deleted_at"] == nil && old.Month() == month {
		if before, err := Transform(old, p.Store.site); err == nil {
			p.localPaths(key, before)
			changed = map[string]bool{}
			for _, t := range Tables {
				if !reflect.DeepEqual(before[t.Name], rows[t.Name]) {
					changed[t.Name] = true
				}
			}
		}
	}
	if _, err := p.Store.writeMonthTables(ctx, month, key, rows, changed); err != nil {
		return err
	}
	if old != nil {
		if was := old.Month(); was != month && old.Fields()["created"] != nil {
			if _, err := p.Store.writeMonth(ctx, was, key, nil); err != nil {
				return err
			}
		}
	}
	return p.Store.saveIssue(is)
}

// localPaths fills attachments.local_path for the files already downloaded.
func (p *Processor) localPaths(key string, rows Rows) {
	for _, r := range rows["attachments"] {
		if id, name := str(r[0]), str(r[2]); id != "" && name != "" {
			if path := p.Store.attachmentPath(key, id, name); path != "" {
				if _, err := os.Stat(path); err == nil {
					r[3] = path
				}
			}
		}
	}
}

// DeleteIssue removes the issue's rows from every shard and marks its raw JSON deleted. It
// reports whether any row or file was there.
func (p *Processor) DeleteIssue(ctx context.Context, key string) (bool, error) {
	unlock, err := p.Store.issueLock(key)
	if err != nil {
		return false, err
	}
	defer unlock()
	found := false
	for _, m := range p.Store.months() {
		f, err := p.Store.writeMonth(ctx, m, key, nil)
		found = found || f
		if err != nil {
			return found, err
		}
	}
	if old, err := p.Store.LoadIssue(key); err == nil && old["_deleted_at"] == nil {
		old["_deleted_at"] = time.Now().UTC().Format(time.RFC3339Nano)
		if err := p.Store.saveIssue(old); err != nil {
			return found, err
		}
		found = true
	}
	if found && p.Changed != nil {
		p.Changed()
	}
	return found, nil
}

// overlaySLA replaces the two SLA fields with the service account's view, when configured.
func (p *Processor) overlaySLA(ctx context.Context, is Issue) {
	if p.SLA == nil {
		return
	}
	sla, err := p.SLA.SLAFields(ctx, is.Key())
	if err != nil {
		return
	}
	f := is.Fields()
	for _, k := range []string{"customfield_10328", "customfield_10161"} {
		if v, ok := sla.Fields()[k]; ok && v != nil {
			f[k] = v
		}
	}
	is["fields"] = f
}

// attachmentPath is raw/attachments/<KEY>/<id>_<filename>, or "" for a file name that
// could escape the directory.
func (s *Store) attachmentPath(key, id, name string) string {
	base := filepath.Base(name)
	if base != name || base == "." || base == ".." || strings.ContainsAny(id, `/\`) {
		return ""
	}
	return filepath.Join(s.RawDir(), "attachments", key, id+"_"+base)
}

// downloadAttachments fetches new attachments outside the issue lock; failures are logged
// by being ignored here (the next refresh tries again) and never fail the event.
func (p *Processor) downloadAttachments(ctx context.Context, is Issue) {
	if p.API == nil || p.AttachmentMax < 0 {
		return
	}
	limit := p.AttachmentMax
	if limit == 0 {
		limit = 50 << 20
	}
	for _, a := range asList(is.Fields()["attachment"]) {
		content := str(a["content"])
		path := p.Store.attachmentPath(is.Key(), str(a["id"]), str(a["filename"]))
		if content == "" || path == "" {
			continue
		}
		if n, ok := nint(a["size"]).(int64); ok && n > limit {
			continue
		}
		if u, err := url.Parse(content); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			continue
		}
		if _, err := os.Stat(path); err == nil {
			continue
		}
		_ = os.MkdirAll(filepath.Dir(path), 0o750)
		tmp := path + ".tmp"
		f, err := os.Create(tmp)
		if err != nil {
			continue
		}
		err = p.API.Download(ctx, content, limit, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(tmp)
			continue
		}
		_ = os.Rename(tmp, path)
	}
}
