// Package knowledge turns analysts' notes and agents' transcripts into knowledge items: it
// reads what was uploaded (with the user's consent), asks an LLM to curate it against the
// existing catalog, drops anything that carries a secret, and records where each item came
// from. Existing items keep their ids and votes; reviewed items get edits proposed rather
// than rewritten; items the LLM no longer returns are flagged "source gone", never deleted.
package knowledge

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"da/llm"
	"da/redact"
	"da/store"
)

// Source kinds.
const (
	KindNotes      = "notes"
	KindTranscript = "transcript"
)

// Directories under DATA_DIR the uploads land in.
const (
	NotesDir    = "user_local_md"
	SessionsDir = "user_sessions"
)

// Limits of what one LLM call carries.
const (
	maxSourceChars = 24_000  // one file's text in the prompt
	maxBatchChars  = 100_000 // all sources of one call
	maxTokens      = 8192
	sensitivityMax = 256
	excerptChars   = 400
)

// Categories the curator may use.
var Categories = []string{"data_analysis", "api_integration", "debugging", "performance", "workflow", "infrastructure", "business_logic"}

// Collector runs collections.
type Collector struct {
	Store    *store.Store
	LLM      llm.Extractor // nil: nothing is collected
	DataDir  string
	Approval string // review_queue (default) or auto_publish
	// Now is the clock (tests).
	Now func() time.Time
}

// Stats are a run's counts.
type Stats struct {
	FilesRead     int64
	ItemsProposed int64
	ItemsMerged   int64
	ItemsDropped  int64
	Usage         llm.Usage
}

// source is one file to collect.
type source struct {
	ref   store.SourceRef
	email string
	label string   // S1, S2, … in the prompt
	lines []string // numbered text units: note lines or transcript messages
}

// Run collects every new or changed file the users consented to, as run runID.
func (c *Collector) Run(ctx context.Context, runID string) (Stats, error) {
	var st Stats
	if c.LLM == nil {
		return st, llm.ErrNotConfigured
	}
	sources, all, err := c.scan(ctx)
	if err != nil {
		return st, err
	}
	st.FilesRead = int64(len(sources))
	existing, _, err := c.Store.ListKnowledge(ctx, store.KnowledgeFilter{SeeAll: true,
		Statuses: []string{store.KnowledgePending, store.KnowledgeApproved, store.KnowledgeMandatory}})
	if err != nil {
		return st, err
	}
	// Items whose every source file was deleted are flagged even without a call.
	prov, err := c.Store.ProvenanceOf(ctx, nil)
	if err != nil {
		return st, err
	}
	if len(sources) == 0 {
		gone := goneFiles(prov, all, nil)
		if len(gone) > 0 {
			err = c.Store.ApplyCollection(ctx, runID, nil, gone, nil, nil)
		}
		return st, err
	}
	byID := map[string]*store.KnowledgeItem{}
	byTitle := map[string]*store.KnowledgeItem{}
	for i := range existing {
		byID[existing[i].ID] = &existing[i]
		byTitle[normTitle(existing[i].Title)] = &existing[i]
	}
	labels := map[string]*source{}
	for i, s := range sources {
		s.label = "S" + strconv.Itoa(i+1)
		labels[s.label] = s
	}
	var proposed []proposal
	for _, batch := range batches(sources) {
		items, u, err := c.curate(ctx, existing, batch)
		st.Usage.Add(u)
		if err != nil {
			return st, err
		}
		proposed = append(proposed, items...)
	}

	// Merge: one change per target (an existing item, or a new title).
	type target struct {
		existing *store.KnowledgeItem
		p        proposal
		refs     []sourceRefLines
	}
	targets := map[string]*target{}
	order := []string{}
	for _, p := range proposed {
		refs := p.refs(labels)
		if len(refs) == 0 {
			st.ItemsDropped++ // it cites nothing we sent
			continue
		}
		var key string
		var ex *store.KnowledgeItem
		if p.ExistingID != nil && byID[*p.ExistingID] != nil {
			ex = byID[*p.ExistingID]
		} else if e := byTitle[normTitle(p.Title)]; e != nil {
			ex = e // a near-duplicate of an existing item: an edit of it, not a new item
		}
		if ex != nil {
			key = "id:" + ex.ID
		} else {
			key = "new:" + normTitle(p.Title)
		}
		if t, ok := targets[key]; ok {
			t.refs = append(t.refs, refs...)
			continue
		}
		targets[key] = &target{existing: ex, p: p, refs: refs}
		order = append(order, key)
	}

	status := store.KnowledgePending
	if c.Approval == "auto_publish" {
		status = store.KnowledgeApproved
	}
	var changes []store.ItemChange
	returned := []string{}
	usedIDs := map[string]bool{}
	for _, key := range order {
		t := targets[key]
		p := t.p.clean()
		contributors := emails(t.refs)
		st.ItemsMerged += int64(distinctFiles(t.refs) - 1) // the same knowledge from several files is one item
		ch := store.ItemChange{Contributors: contributors}
		if t.existing != nil {
			ex := t.existing
			returned = append(returned, ex.ID)
			ch.UpdateID = ex.ID
			ch.Contributors = union(ex.Contributors, contributors)
			if unchanged(ex, p) {
				ch.Update = store.KnowledgeEdit{}
			} else if ex.Status == store.KnowledgePending {
				ch.Update = store.KnowledgeEdit{Title: &p.Title, Content: &p.Content, Category: &p.Category, Tags: &p.Tags}
				st.ItemsMerged++
			} else {
				edit, _ := json.Marshal(map[string]any{"title": p.Title, "content": p.Content, "category": p.Category, "tags": p.Tags})
				ch.ProposeEdit = string(edit)
				st.ItemsProposed++
			}
		} else {
			if !c.safe(ctx, p, &st) {
				st.ItemsDropped++
				continue
			}
			id := itemID(p.Title, p.Content)
			for usedIDs[id] {
				id = itemID(p.Title, p.Content+strconv.Itoa(len(usedIDs)))
			}
			usedIDs[id] = true
			ch.New = &store.KnowledgeItem{ID: id, Title: p.Title, Content: p.Content, Category: p.Category, Tags: p.Tags,
				Status: status, Contributors: contributors, SourceUser: contributors[0]}
			st.ItemsProposed++
		}
		for _, r := range t.refs {
			ch.Provenance = append(ch.Provenance, store.Provenance{UserID: r.src.ref.UserID, Kind: r.src.ref.Kind, Name: r.src.ref.Name,
				Location: r.location(), Excerpt: r.excerpt()})
		}
		changes = append(changes, ch)
	}
	gone := goneFiles(prov, all, sources)
	// Items sourced from a file sent again whose knowledge the LLM no longer returned.
	isReturned := map[string]bool{}
	for _, id := range returned {
		isReturned[id] = true
	}
	resent := map[string]bool{}
	for _, s := range sources {
		resent[store.CollectedKey(s.ref.UserID, s.ref.Kind, s.ref.Name)] = true
	}
	for id, ps := range prov {
		if isReturned[id] || byID[id] == nil {
			continue
		}
		for _, p := range ps {
			if resent[store.CollectedKey(p.UserID, p.Kind, p.Name)] {
				gone = append(gone, id)
				break
			}
		}
	}
	refs := make([]store.SourceRef, len(sources))
	for i, s := range sources {
		refs[i] = s.ref
	}
	return st, c.Store.ApplyCollection(ctx, runID, changes, dedupe(gone), returned, refs)
}

// scan lists the files to collect (new or changed, consented) and every file present.
func (c *Collector) scan(ctx context.Context) ([]*source, map[string]bool, error) {
	users, err := c.Store.ListUsers(ctx)
	if err != nil {
		return nil, nil, err
	}
	consent, err := c.Store.AllConsent(ctx)
	if err != nil {
		return nil, nil, err
	}
	seen, err := c.Store.CollectedFiles(ctx)
	if err != nil {
		return nil, nil, err
	}
	all := map[string]bool{}
	var out []*source
	for _, u := range users {
		cs, ok := consent[u.ID]
		if !ok {
			cs = store.DefaultConsent(u.ID)
		}
		notes := filepath.Join(c.DataDir, NotesDir, u.ID+".md")
		if b, err := os.ReadFile(notes); err == nil {
			all[store.CollectedKey(u.ID, KindNotes, "CLAUDE.local.md")] = true
			if cs.Notes {
				if s := newSource(u.ID, u.Email, KindNotes, "CLAUDE.local.md", b, seen); s != nil {
					out = append(out, s)
				}
			}
		}
		files, _ := filepath.Glob(filepath.Join(c.DataDir, SessionsDir, u.ID, "*.jsonl"))
		sort.Strings(files)
		for _, f := range files {
			name := filepath.Base(f)
			all[store.CollectedKey(u.ID, KindTranscript, name)] = true
			if !cs.Transcripts {
				continue // nothing of it is read, let alone sent
			}
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			if s := newSource(u.ID, u.Email, KindTranscript, name, b, seen); s != nil {
				out = append(out, s)
			}
		}
	}
	return out, all, nil
}

func newSource(userID, email, kind, name string, b []byte, seen map[string]string) *source {
	h := sha256.Sum256(b)
	sum := hex.EncodeToString(h[:])
	if seen[store.CollectedKey(userID, kind, name)] == sum {
		return nil
	}
	s := &source{ref: store.SourceRef{UserID: userID, Kind: kind, Name: name, SHA256: sum}, email: email}
	// Redact again (files written before redaction existed, or by another client), over the
	// whole text so that secrets spanning lines are found too.
	var text string
	if kind == KindNotes {
		text = strings.ReplaceAll(string(b), "\r\n", "\n")
	} else {
		text = strings.Join(transcriptMessages(b), "\n") // one message a line, whitespace collapsed
	}
	text, _ = redact.String(text)
	s.lines = strings.Split(text, "\n")
	return s
}

// transcriptMessages keeps the text of each user and assistant message of a JSONL transcript.
func transcriptMessages(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var v map[string]any
		if json.Unmarshal(sc.Bytes(), &v) != nil {
			continue
		}
		role, _ := v["type"].(string)
		if r, ok := v["role"].(string); ok {
			role = r
		}
		text := ""
		if m, ok := v["message"].(map[string]any); ok {
			if r, ok := m["role"].(string); ok {
				role = r
			}
			text = flatten(m["content"])
		} else {
			text = flatten(v["message"])
			if text == "" {
				text = flatten(v["content"])
			}
		}
		text = strings.Join(strings.Fields(text), " ")
		if text == "" || (role != "user" && role != "assistant" && role != "") {
			continue
		}
		if role == "" {
			role = "message"
		}
		out = append(out, role+": "+text)
	}
	return out
}

func flatten(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		var parts []string
		for _, p := range t {
			if m, ok := p.(map[string]any); ok {
				if s, ok := m["text"].(string); ok {
					parts = append(parts, s)
				}
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// batches groups sources so that one call carries at most maxBatchChars of them.
func batches(sources []*source) [][]*source {
	var out [][]*source
	var cur []*source
	size := 0
	for _, s := range sources {
		n := min(textLen(s), maxSourceChars)
		if len(cur) > 0 && size+n > maxBatchChars {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, s)
		size += n
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

func textLen(s *source) int {
	n := 0
	for _, l := range s.lines {
		n += len(l) + 8
	}
	return n
}

// proposal is one item of the curator's answer.
type proposal struct {
	ExistingID *string  `json:"existing_id"`
	Title      string   `json:"title"`
	Content    string   `json:"content"`
	Category   string   `json:"category"`
	Tags       []string `json:"tags"`
	Sources    []struct {
		Source string `json:"source"`
		Lines  []int  `json:"lines"`
	} `json:"sources"`
}

type sourceRefLines struct {
	src   *source
	lines []int
}

func (r sourceRefLines) location() string {
	unit := "line"
	if r.src.ref.Kind == KindTranscript {
		unit = "message"
	}
	if len(r.lines) == 0 {
		return "whole file"
	}
	parts := make([]string, len(r.lines))
	for i, l := range r.lines {
		parts[i] = strconv.Itoa(l)
	}
	if len(parts) == 1 {
		return unit + " " + parts[0]
	}
	return unit + "s " + strings.Join(parts, ", ")
}

func (r sourceRefLines) excerpt() string {
	var b strings.Builder
	for _, l := range r.lines {
		if l >= 1 && l <= len(r.src.lines) {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(r.src.lines[l-1])
		}
	}
	return truncate(b.String(), excerptChars)
}

func (p proposal) refs(labels map[string]*source) []sourceRefLines {
	var out []sourceRefLines
	for _, s := range p.Sources {
		src := labels[strings.TrimSpace(s.Source)]
		if src == nil {
			continue
		}
		var lines []int
		for _, l := range s.Lines {
			if l >= 1 && l <= len(src.lines) {
				lines = append(lines, l)
			}
		}
		out = append(out, sourceRefLines{src: src, lines: lines})
	}
	return out
}

// clean bounds the fields the way the schema asks.
func (p proposal) clean() proposal {
	p.Title = truncate(strings.TrimSpace(p.Title), 120)
	p.Content = truncate(strings.TrimSpace(p.Content), 2000)
	if !contains(Categories, p.Category) {
		p.Category = "workflow"
	}
	tags := []string{}
	for _, t := range p.Tags {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" && !contains(tags, t) && len(tags) < 6 {
			tags = append(tags, truncate(t, 40))
		}
	}
	p.Tags = tags
	return p
}

func (c *Collector) curate(ctx context.Context, existing []store.KnowledgeItem, batch []*source) ([]proposal, llm.Usage, error) {
	var b strings.Builder
	b.WriteString(curatorInstructions)
	b.WriteString("\n\n## Existing catalog\n")
	if len(existing) == 0 {
		b.WriteString("(No existing items - this is a fresh catalog)\n")
	}
	for _, k := range existing {
		fmt.Fprintf(&b, "- ID: %s\n  Title: %s\n  Content: %s\n  Category: %s\n  Tags: %s\n",
			k.ID, k.Title, truncate(k.Content, 600), k.Category, strings.Join(k.Tags, ", "))
	}
	b.WriteString("\n## New material\n")
	for _, s := range batch {
		unit := "line"
		if s.ref.Kind == KindTranscript {
			unit = "message"
		}
		fmt.Fprintf(&b, "\n### Source %s (%s of user %s, numbered by %s)\n```\n", s.label, s.ref.Kind, s.ref.UserID, unit)
		size := 0
		for i, l := range s.lines {
			if size > maxSourceChars {
				b.WriteString("[… rest of the file left out …]\n")
				break
			}
			line := fmt.Sprintf("%d| %s\n", i+1, l)
			size += len(line)
			b.WriteString(line)
		}
		b.WriteString("```\n")
	}
	out, u, err := c.LLM.ExtractJSON(ctx, llm.Request{Prompt: b.String(), MaxTokens: maxTokens, Schema: curatorSchema, SchemaName: "knowledge_catalog"})
	if err != nil {
		return nil, u, err
	}
	var ans struct {
		Items []proposal `json:"items"`
	}
	if err := json.Unmarshal(out, &ans); err != nil {
		return nil, u, &llm.Error{Kind: llm.KindFormat, Msg: "the curator's answer does not match the schema: " + err.Error()}
	}
	var items []proposal
	for _, p := range ans.Items {
		if strings.TrimSpace(p.Title) != "" && strings.TrimSpace(p.Content) != "" {
			items = append(items, p)
		}
	}
	return items, u, nil
}

// safe runs the sensitivity check on a new item: a secret pattern, an unsafe verdict or any
// failure of the check drops it.
func (c *Collector) safe(ctx context.Context, p proposal, st *Stats) bool {
	if _, n := redact.String(p.Title + "\n" + p.Content); n > 0 || strings.Contains(p.Content, redact.Mask) {
		return false
	}
	prompt := sensitivityInstructions + "\n\nTitle: " + p.Title + "\nContent: " + p.Content
	out, u, err := c.LLM.ExtractJSON(ctx, llm.Request{Prompt: prompt, MaxTokens: sensitivityMax, Schema: sensitivitySchema, SchemaName: "sensitivity_check"})
	st.Usage.Add(u)
	if err != nil {
		return false
	}
	var v struct {
		Safe bool `json:"safe"`
	}
	return json.Unmarshal(out, &v) == nil && v.Safe
}

// goneFiles flags items all of whose source files no longer exist.
func goneFiles(prov map[string][]store.Provenance, all map[string]bool, _ []*source) []string {
	var out []string
	for id, ps := range prov {
		present := false
		for _, p := range ps {
			if all[store.CollectedKey(p.UserID, p.Kind, p.Name)] {
				present = true
				break
			}
		}
		if !present {
			out = append(out, id)
		}
	}
	return out
}

func unchanged(k *store.KnowledgeItem, p proposal) bool {
	return k.Title == p.Title && k.Content == p.Content && k.Category == p.Category && strings.Join(k.Tags, ",") == strings.Join(p.Tags, ",")
}

func itemID(title, content string) string {
	h := sha256.Sum256([]byte(title + content))
	return "km_" + hex.EncodeToString(h[:])[:12]
}

func normTitle(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(strings.Trim(s, " .!?:"))), " ")
}

func emails(refs []sourceRefLines) []string {
	var out []string
	for _, r := range refs {
		if !contains(out, r.src.email) {
			out = append(out, r.src.email)
		}
	}
	return out
}

func distinctFiles(refs []sourceRefLines) int {
	seen := map[*source]bool{}
	for _, r := range refs {
		seen[r.src] = true
	}
	return len(seen)
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, s := range b {
		if !contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func dedupe(ss []string) []string {
	sort.Strings(ss)
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ErrBusy is returned when a collection is already running.
var ErrBusy = errors.New("a collection is already running")
