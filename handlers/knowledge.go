package handlers

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/config"
	"da/engine/knowledge"
	"da/llm"
	"da/store"
	"da/views"
)

const (
	auditCollect = "km_collect"
	auditConsent = "km_consent"
)

// collectRunOut is GET /api/memory/admin/collect/{job_id}.
type collectRunOut struct {
	JobID         string  `json:"job_id"`
	Status        string  `json:"status"`
	Trigger       string  `json:"trigger"`
	Provider      string  `json:"provider"`
	StartedAt     string  `json:"started_at"`
	FinishedAt    *string `json:"finished_at"`
	FilesRead     int64   `json:"files_read"`
	ItemsProposed int64   `json:"items_proposed"`
	ItemsMerged   int64   `json:"items_merged"`
	ItemsDropped  int64   `json:"items_dropped"`
	LLMCalls      int64   `json:"llm_calls"`
	InputTokens   int64   `json:"input_tokens"`
	OutputTokens  int64   `json:"output_tokens"`
	CostUSD       float64 `json:"cost_usd"`
	Error         *string `json:"error"`
}

func runOut(r *store.KnowledgeRun) collectRunOut {
	return collectRunOut{JobID: r.ID, Status: r.Status, Trigger: r.Trigger, Provider: r.Provider, StartedAt: naiveUTC(r.StartedAt),
		FinishedAt: naiveUTCPtr(r.FinishedAt), FilesRead: r.FilesRead, ItemsProposed: r.ItemsProposed, ItemsMerged: r.ItemsMerged,
		ItemsDropped: r.ItemsDropped, LLMCalls: r.LLMCalls, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens,
		CostUSD: r.CostUSD, Error: optString(r.Error)}
}

// startCollect is POST /api/memory/admin/collect: 202 {job_id}. A run already in progress
// is answered with its id; no LLM configured is a 409 saying what to set.
func (s *Server) startCollect(c echo.Context) error {
	u := currentUser(c)
	id, started, err := s.knowledge.Start("manual", u.ID)
	if errors.Is(err, llm.ErrNotConfigured) {
		return apiError(http.StatusConflict, s.knowledge.ConfigError)
	}
	if err != nil {
		return err
	}
	if err := s.audit(c, auditCollect, id, auditResultOK, map[string]any{"started": started}); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, collectStarted{JobID: id, Started: started})
}

// showCollect is GET /api/memory/admin/collect/{job_id}.
func (s *Server) showCollect(c echo.Context) error {
	r, err := s.store.KnowledgeRunByID(c.Request().Context(), c.Param("job_id"))
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Collection job not found")
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, runOut(r))
}

// listCollect is GET /api/memory/admin/collect: the run history and the LLM set-up.
func (s *Server) listCollect(c echo.Context) error {
	runs, err := s.store.KnowledgeRuns(c.Request().Context(), 50)
	if err != nil {
		return err
	}
	out := make([]collectRunOut, len(runs))
	for i := range runs {
		out[i] = runOut(&runs[i])
	}
	return c.JSON(http.StatusOK, map[string]any{"runs": out, "configured": s.knowledge.Configured(),
		"config_hint": optString(s.knowledge.ConfigError)})
}

// consentOut is a user's collection consent.
type consentOut struct {
	UserID      string  `json:"user_id"`
	Email       string  `json:"email,omitempty"`
	Notes       bool    `json:"notes"`
	Transcripts bool    `json:"transcripts"`
	UpdatedAt   *string `json:"updated_at"`
}

func consentJSON(cs store.KnowledgeConsent, email string) consentOut {
	var t *time.Time
	if !cs.UpdatedAt.IsZero() {
		t = &cs.UpdatedAt
	}
	return consentOut{UserID: cs.UserID, Email: email, Notes: cs.Notes, Transcripts: cs.Transcripts, UpdatedAt: naiveUTCPtr(t)}
}

// myConsent is GET /api/memory/consent.
func (s *Server) myConsent(c echo.Context) error {
	cs, err := s.store.ConsentOf(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, consentJSON(cs, currentUser(c).Email))
}

// setConsent is PUT /api/memory/consent {notes?, transcripts?}.
func (s *Server) setConsent(c echo.Context) error {
	var body consentBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	if body.Notes == nil && body.Transcripts == nil {
		return fieldInvalid("body", "Give notes and/or transcripts (true or false)")
	}
	u := currentUser(c)
	cs, err := s.store.ConsentOf(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	if body.Notes != nil {
		cs.Notes = *body.Notes
	}
	if body.Transcripts != nil {
		cs.Transcripts = *body.Transcripts
	}
	ctx := s.auditing(c, auditConsent, u.ID, map[string]any{"notes": cs.Notes, "transcripts": cs.Transcripts})
	if err := s.store.SetConsent(ctx, cs); err != nil {
		return err
	}
	cs, err = s.store.ConsentOf(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, consentJSON(cs, u.Email))
}

// allConsent is GET /api/memory/admin/consent: every user's consent.
func (s *Server) allConsent(c echo.Context) error {
	rows, err := s.consentRows(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, consentList{Users: rows})
}

func (s *Server) consentRows(c echo.Context) ([]consentOut, error) {
	users, err := s.store.ListUsers(c.Request().Context())
	if err != nil {
		return nil, err
	}
	all, err := s.store.AllConsent(c.Request().Context())
	if err != nil {
		return nil, err
	}
	out := make([]consentOut, 0, len(users))
	for _, u := range users {
		cs, ok := all[u.ID]
		if !ok {
			cs = store.DefaultConsent(u.ID)
		}
		out = append(out, consentJSON(cs, u.Email))
	}
	return out, nil
}

// provenanceOut is one source of an item.
type provenanceOut struct {
	User     string `json:"user"`
	Kind     string `json:"kind"`
	File     string `json:"file"`
	Location string `json:"location"`
	Excerpt  string `json:"excerpt"`
	RunID    string `json:"run_id"`
	At       string `json:"at"`
}

// itemProvenance is GET /api/memory/admin/provenance/{item_id}.
func (s *Server) itemProvenance(c echo.Context) error {
	ctx := c.Request().Context()
	id := c.Param("item_id")
	if _, err := s.store.KnowledgeByID(ctx, id); errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Knowledge item not found")
	} else if err != nil {
		return err
	}
	prov, err := s.store.ProvenanceOf(ctx, []string{id})
	if err != nil {
		return err
	}
	states, err := s.store.KnowledgeItemStates(ctx)
	if err != nil {
		return err
	}
	emails, _, err := s.userEmails(c)
	if err != nil {
		return err
	}
	out := []provenanceOut{}
	for _, p := range prov[id] {
		out = append(out, provenanceOut{User: emailOr(emails, p.UserID), Kind: p.Kind, File: p.Name, Location: p.Location,
			Excerpt: p.Excerpt, RunID: p.RunID, At: naiveUTC(p.CreatedAt)})
	}
	st := states[id]
	return c.JSON(http.StatusOK, map[string]any{"item_id": id, "sources": out, "source_gone": st.SourceGone,
		"proposed_edit": optString(st.ProposedEdit)})
}

// memoryBundle is GET /api/memory/bundle: the approved and mandatory items for the caller's
// audience as one markdown file within the configured token budget (?format=json for the
// counts as well).
func (s *Server) memoryBundle(c echo.Context) error {
	res, err := s.bundleFor(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set("X-Bundle-Items", strconv.Itoa(res.Included))
	c.Response().Header().Set("X-Bundle-Omitted", strconv.Itoa(res.Omitted))
	if c.QueryParam("format") == "json" {
		return c.JSON(http.StatusOK, map[string]any{"markdown": res.Markdown, "items": res.Included, "omitted": res.Omitted,
			"tokens": res.Tokens, "budget": s.cfg.CorporateMemory.BundleTokens})
	}
	return c.Blob(http.StatusOK, "text/markdown; charset=utf-8", []byte(res.Markdown))
}

func (s *Server) bundleFor(c echo.Context) (knowledge.BundleResult, error) {
	u := currentUser(c)
	items, _, err := s.store.ListKnowledge(c.Request().Context(), store.KnowledgeFilter{Viewer: u.Email,
		Statuses: []string{store.KnowledgeApproved, store.KnowledgeMandatory}})
	if err != nil {
		return knowledge.BundleResult{}, err
	}
	mine := items[:0]
	for _, k := range items {
		if s.inAudience(u.Email, k.Audience) {
			mine = append(mine, k)
		}
	}
	budget := s.cfg.CorporateMemory.BundleTokens
	if budget <= 0 {
		budget = 6000
	}
	return knowledge.Bundle(mine, budget, s.baseURL(c), time.Now()), nil
}

// inAudience reports whether a user belongs to an item's audience ("" or "all": everyone;
// "group:<name>": the group's members).
func (s *Server) inAudience(email, audience string) bool {
	a := strings.TrimSpace(audience)
	if a == "" || a == "all" {
		return true
	}
	name, ok := strings.CutPrefix(a, "group:")
	if !ok {
		return strings.EqualFold(a, email)
	}
	for _, groups := range []map[string]config.Group{s.cfg.Groups, s.cfg.CorporateMemory.Groups} {
		if g, ok := groups[name]; ok {
			for _, m := range g.Members {
				if strings.EqualFold(strings.TrimSpace(m), email) {
					return true
				}
			}
		}
	}
	return false
}

// baseURL is the server's public URL: SERVER_URL, else the request's own.
func (s *Server) baseURL(c echo.Context) string {
	if s.cfg.ServerURL != "" {
		return strings.TrimRight(s.cfg.ServerURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

// addCollectionState adds provenance, "source gone" and proposed edits to admin rows.
func (s *Server) addCollectionState(c echo.Context, rows []views.MemoryAdminRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.Item.ID
	}
	ctx := c.Request().Context()
	prov, err := s.store.ProvenanceOf(ctx, ids)
	if err != nil {
		return err
	}
	states, err := s.store.KnowledgeItemStates(ctx)
	if err != nil {
		return err
	}
	emails, _, err := s.userEmails(c)
	if err != nil {
		return err
	}
	for i := range rows {
		id := rows[i].Item.ID
		for _, p := range prov[id] {
			rows[i].Sources = append(rows[i].Sources, views.MemorySource{User: emailOr(emails, p.UserID), Kind: p.Kind, File: p.Name,
				Location: p.Location, Excerpt: p.Excerpt})
		}
		rows[i].SourceGone = states[id].SourceGone
		rows[i].ProposedEdit = states[id].ProposedEdit
	}
	return nil
}

// memoryCollectData builds the collection tab: runs, usage, consent.
func (s *Server) memoryCollectData(c echo.Context) (views.MemoryCollectData, error) {
	d := views.MemoryCollectData{Configured: s.knowledge.Configured(), ConfigHint: s.knowledge.ConfigError}
	runs, err := s.store.KnowledgeRuns(c.Request().Context(), 50)
	if err != nil {
		return d, err
	}
	for _, r := range runs {
		if r.Status == store.RunQueued || r.Status == store.RunRunning {
			d.Running = true
		}
		d.InTokens += r.InputTokens
		d.OutTokens += r.OutputTokens
		d.Cost += r.CostUSD
		d.Runs = append(d.Runs, views.MemoryRun{ID: r.ID, Started: shortTime(r.StartedAt), Trigger: r.Trigger, Status: r.Status,
			Error: r.Error, Provider: r.Provider, FilesRead: r.FilesRead, Proposed: r.ItemsProposed, Merged: r.ItemsMerged,
			Dropped: r.ItemsDropped, InTokens: r.InputTokens, OutTokens: r.OutputTokens, Cost: r.CostUSD})
	}
	rows, err := s.consentRows(c)
	if err != nil {
		return d, err
	}
	for _, r := range rows {
		d.Consent = append(d.Consent, views.MemoryConsentRow{Email: r.Email, Notes: r.Notes, Transcripts: r.Transcripts, Chosen: r.UpdatedAt != nil})
	}
	return d, nil
}

// memoryCollectForm is POST /corporate-memory/admin/collect: "Collect now".
func (s *Server) memoryCollectForm(c echo.Context) error {
	u := currentUser(c)
	id, started, err := s.knowledge.Start("manual", u.ID)
	if errors.Is(err, llm.ErrNotConfigured) {
		return c.Redirect(http.StatusSeeOther, "/corporate-memory/admin?tab=collect")
	}
	if err != nil {
		return err
	}
	if err := s.audit(c, auditCollect, id, auditResultOK, map[string]any{"started": started}); err != nil {
		return err
	}
	return c.Redirect(http.StatusSeeOther, "/corporate-memory/admin?tab=collect")
}

// collectStarted is the answer of POST /api/memory/admin/collect.
type collectStarted struct {
	JobID   string `json:"job_id"`
	Started bool   `json:"started" description:"false when a run was already going; job_id is that run"`
}

// consentBody is the body of PUT /api/memory/consent; a missing field stays as it was.
type consentBody struct {
	Notes       *bool `json:"notes,omitempty" description:"let the collector read your CLAUDE.local.md"`
	Transcripts *bool `json:"transcripts,omitempty" description:"let the collector read your session transcripts"`
}

// consentList is the answer of GET /api/memory/admin/consent.
type consentList struct {
	Users []consentOut `json:"users"`
}
