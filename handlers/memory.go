package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/store"
)

// Corporate-memory API limits.
const (
	memoryPerPageDefault  = 50
	memoryPerPageMax      = 200
	memoryPageMax         = 1_000_000
	memorySearchMax       = 200
	memoryAudienceMax     = 200
	memoryAPIBatchMax     = 500
	memoryAuditPerPageMax = store.MaxAuditLimit
	auditMemoryPrefix     = "km_"
	auditMemoryCreate     = "km_create"
	auditMemoryBatch      = "km_batch"
	msgMemoryNotFound     = "Knowledge item not found"
	msgMemoryBadVote      = "Vote must be 1, -1 or 0"
	msgMemoryNotVotable   = "Only approved or mandatory items can be voted on"
	msgMemoryItemRequired = "item_id is required"
)

// memoryAuditActions are the values GET /api/memory/admin/audit accepts as action.
var memoryAuditActions = []string{"approve", "reject", "mandate", "revoke", "edit", "batch", "create"}

// memoryItemJSON is a knowledge item as the API shows it: the original's fields (tags and
// contributors as their stored JSON text) plus the caller's own vote.
type memoryItemJSON struct {
	ID           string  `json:"id"`
	Title        string  `json:"title"`
	Content      string  `json:"content"`
	Category     string  `json:"category"`
	Tags         *string `json:"tags"`
	Status       string  `json:"status"`
	Contributors *string `json:"contributors"`
	SourceUser   string  `json:"source_user"`
	Audience     *string `json:"audience"`
	CreatedAt    *string `json:"created_at"`
	UpdatedAt    *string `json:"updated_at"`
	Upvotes      int     `json:"upvotes"`
	Downvotes    int     `json:"downvotes"`
	Score        int     `json:"score"`
	MyVote       int     `json:"my_vote"`
}

// jsonListText is a list as JSON text, or nil (JSON null) when it is empty.
func jsonListText(ss []string) *string {
	if len(ss) == 0 {
		return nil
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}

// naiveUTCOrNil is naiveUTC, or nil for a time that was never set.
func naiveUTCOrNil(k *store.KnowledgeItem, updated bool) *string {
	t := k.CreatedAt
	if updated {
		t = k.UpdatedAt
	}
	if t.IsZero() {
		return nil
	}
	s := naiveUTC(t)
	return &s
}

// memoryItemOut converts a stored item for the API; votes are the caller's (item id → ±1).
func memoryItemOut(k *store.KnowledgeItem, votes map[string]int) memoryItemJSON {
	return memoryItemJSON{ID: k.ID, Title: k.Title, Content: k.Content, Category: k.Category, Tags: jsonListText(k.Tags),
		Status: k.Status, Contributors: jsonListText(k.Contributors), SourceUser: k.SourceUser, Audience: optString(k.Audience),
		CreatedAt: naiveUTCOrNil(k, false), UpdatedAt: naiveUTCOrNil(k, true), Upvotes: k.Upvotes, Downvotes: k.Downvotes,
		Score: k.Score(), MyVote: votes[k.ID]}
}

// memoryItemsOut converts a page of items.
func memoryItemsOut(items []store.KnowledgeItem, votes map[string]int) []memoryItemJSON {
	out := make([]memoryItemJSON, 0, len(items))
	for i := range items {
		out = append(out, memoryItemOut(&items[i], votes))
	}
	return out
}

// memoryIntParam reads an optional integer query parameter in [lo, hi]; anything else is a
// 400 that names the parameter and its range.
func memoryIntParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	raw := strings.TrimSpace(c.QueryParam(name))
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, apiError(http.StatusBadRequest, fmt.Sprintf("%s must be an integer from %d to %d, not %q", name, lo, hi, raw))
	}
	return n, nil
}

// memoryPaging reads page and per_page and returns them. A per_page above perPageMax is
// clamped to it, as the original accepted any value.
func memoryPaging(c echo.Context, perPageMax int) (page, perPage int, err error) {
	if page, err = memoryIntParam(c, "page", 1, 1, memoryPageMax); err != nil {
		return 0, 0, err
	}
	raw := strings.TrimSpace(c.QueryParam("per_page"))
	if raw == "" {
		return page, min(memoryPerPageDefault, perPageMax), nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil && errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(raw, "-") {
		n, err = perPageMax, nil
	}
	if err != nil || n < 1 {
		return 0, 0, apiError(http.StatusBadRequest, fmt.Sprintf("per_page must be a whole number of at least 1 (at most %d are returned), not %q", perPageMax, raw))
	}
	return page, min(n, perPageMax), nil
}

// memorySortParam reads sort: one of store.KnowledgeSorts, updated_at when absent.
func memorySortParam(c echo.Context) (string, error) {
	s := strings.TrimSpace(c.QueryParam("sort"))
	if s == "" {
		return "updated_at", nil
	}
	if _, ok := store.KnowledgeSorts[s]; !ok {
		allowed := make([]string, 0, len(store.KnowledgeSorts))
		for k := range store.KnowledgeSorts {
			allowed = append(allowed, k)
		}
		slices.Sort(allowed)
		return "", apiError(http.StatusBadRequest, fmt.Sprintf("Invalid sort: %q (allowed: %s)", s, strings.Join(allowed, ", ")))
	}
	return s, nil
}

// myVotes is the current user's votes (item id → ±1).
func (s *Server) myVotes(c echo.Context) (map[string]int, error) {
	u := currentUser(c)
	if u == nil {
		return map[string]int{}, nil
	}
	return s.store.KnowledgeVotesOf(c.Request().Context(), u.ID)
}

// listMemory answers GET /api/memory: the items visible to the caller, filtered by
// status_filter, category and search together, sorted and paged, with the total count.
func (s *Server) listMemory(c echo.Context) error {
	f := memoryFilterFor(c)
	f.Status = strings.TrimSpace(c.QueryParam("status_filter"))
	if f.Status != "" && !store.ValidKnowledgeStatus(f.Status) {
		return apiError(http.StatusBadRequest, fmt.Sprintf("Invalid status_filter: %q (allowed: %s)",
			f.Status, strings.Join(store.KnowledgeStatuses, ", ")))
	}
	f.Category = strings.TrimSpace(c.QueryParam("category"))
	f.Search = strings.TrimSpace(c.QueryParam("search"))
	if utf8.RuneCountInString(f.Search) > memorySearchMax {
		return apiError(http.StatusBadRequest, fmt.Sprintf("search is too long (at most %d characters)", memorySearchMax))
	}
	var err error
	if f.Sort, err = memorySortParam(c); err != nil {
		return err
	}
	page, perPage, err := memoryPaging(c, memoryPerPageMax)
	if err != nil {
		return err
	}
	f.Limit, f.Offset = perPage, (page-1)*perPage
	return s.memoryListJSON(c, f, page, perPage)
}

// memoryListJSON answers one page of the items f selects, with the caller's votes.
func (s *Server) memoryListJSON(c echo.Context, f store.KnowledgeFilter, page, perPage int) error {
	items, total, err := s.store.ListKnowledge(c.Request().Context(), f)
	if err != nil {
		return err
	}
	votes, err := s.myVotes(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"items": memoryItemsOut(items, votes), "count": len(items), "total": total,
		"page": page, "per_page": perPage})
}

// visibleMemoryItem loads an item the caller may see; others' pending and rejected items
// answer 404 exactly like missing ones, so their existence does not leak.
func (s *Server) visibleMemoryItem(c echo.Context, id string) (*store.KnowledgeItem, error) {
	k, err := s.store.KnowledgeByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !memoryFilterFor(c).Visible(k)) {
		return nil, apiError(http.StatusNotFound, msgMemoryNotFound)
	}
	return k, err
}

// showMemory answers GET /api/memory/{item_id}: one visible item with the caller's vote.
func (s *Server) showMemory(c echo.Context) error {
	k, err := s.visibleMemoryItem(c, c.Param("item_id"))
	if err != nil {
		return err
	}
	votes, err := s.myVotes(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, memoryItemOut(k, votes))
}

// memoryStats answers GET /api/memory/stats over the items visible to the caller.
func (s *Server) memoryStats(c echo.Context) error {
	total, byStatus, categories, err := s.store.KnowledgeStats(c.Request().Context(), memoryFilterFor(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"total": total, "by_status": byStatus, "categories": categories})
}

// myMemoryVotes answers GET /api/memory/my-votes: {"<item_id>": 1|-1} for the caller.
func (s *Server) myMemoryVotes(c echo.Context) error {
	votes, err := s.myVotes(c)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, votes)
}

// memoryItemBody is the body of POST /api/memory and POST /api/memory/admin/edit.
type memoryItemBody struct {
	Title    *string   `json:"title"`
	Content  *string   `json:"content"`
	Category *string   `json:"category"`
	Tags     *[]string `json:"tags"`
}

func (b memoryItemBody) fields() memoryFields {
	return memoryFields{Title: b.Title, Content: b.Content, Category: b.Category, Tags: b.Tags}
}

// createMemory answers POST /api/memory (analyst+): a new pending item by the caller.
// 201 {"id","status":"pending"}; a bad field is a 422 whose detail names it.
func (s *Server) createMemory(c echo.Context) error {
	var body memoryItemBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	f := body.fields()
	if bad := validateMemory(&f, true); bad != nil {
		return apiError(http.StatusUnprocessableEntity, firstProblem(bad))
	}
	k := &store.KnowledgeItem{Title: *f.Title, Content: *f.Content, Status: store.KnowledgePending, SourceUser: currentUser(c).Email}
	if f.Category != nil {
		k.Category = *f.Category
	}
	if f.Tags != nil {
		k.Tags = *f.Tags
	}
	if err := s.store.CreateKnowledge(s.auditing(c, auditMemoryCreate, "", map[string]any{"title": k.Title}), k); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"id": k.ID, "status": k.Status})
}

// memoryVoteValue reads {"vote": 1|-1|0}; anything else is a 400.
func memoryVoteValue(c echo.Context) (int, error) {
	var body struct {
		Vote json.RawMessage `json:"vote"`
	}
	if err := bindJSON(c, &body); err != nil {
		return 0, err
	}
	var v int
	if len(body.Vote) == 0 || string(body.Vote) == "null" || json.Unmarshal(body.Vote, &v) != nil || v < -1 || v > 1 {
		return 0, apiError(http.StatusBadRequest, msgMemoryBadVote)
	}
	return v, nil
}

// voteMemory answers POST /api/memory/{item_id}/vote (analyst+): {"vote": 1|-1} casts or
// replaces the caller's vote, 0 withdraws it. 200 {"upvotes","downvotes","my_vote"}.
func (s *Server) voteMemory(c echo.Context) error {
	v, err := memoryVoteValue(c)
	if err != nil {
		return err
	}
	return s.castMemoryVote(c, v)
}

// unvoteMemory answers DELETE /api/memory/{item_id}/vote (analyst+): withdraws the caller's
// vote, if any.
func (s *Server) unvoteMemory(c echo.Context) error { return s.castMemoryVote(c, 0) }

func (s *Server) castMemoryVote(c echo.Context, v int) error {
	k, err := s.visibleMemoryItem(c, c.Param("item_id"))
	if err != nil {
		return err
	}
	up, down, err := s.store.VoteKnowledge(c.Request().Context(), k.ID, currentUser(c).ID, v)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apiError(http.StatusNotFound, msgMemoryNotFound)
	case errors.Is(err, store.ErrConflict):
		return apiError(http.StatusConflict, msgMemoryNotVotable)
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"upvotes": up, "downvotes": down, "my_vote": v})
}

// memoryItemIDParam reads the required item_id query parameter of the governance routes.
func memoryItemIDParam(c echo.Context) (string, error) {
	id := strings.TrimSpace(c.QueryParam("item_id"))
	if id == "" {
		return "", apiError(http.StatusUnprocessableEntity, msgMemoryItemRequired)
	}
	return id, nil
}

// memoryReasonBody is the optional body of the governance actions.
type memoryReasonBody struct {
	Reason   *string `json:"reason"`
	Audience *string `json:"audience"`
}

// values returns the trimmed reason and audience, or a 422 naming the one that is too long.
func (b memoryReasonBody) values() (reason, audience string, err error) {
	if b.Reason != nil {
		reason = strings.TrimSpace(*b.Reason)
	}
	if b.Audience != nil {
		audience = strings.TrimSpace(*b.Audience)
	}
	if utf8.RuneCountInString(reason) > memoryReasonMax {
		return "", "", apiError(http.StatusUnprocessableEntity, fmt.Sprintf("reason is too long (at most %d characters)", memoryReasonMax))
	}
	if utf8.RuneCountInString(audience) > memoryAudienceMax {
		return "", "", apiError(http.StatusUnprocessableEntity, fmt.Sprintf("audience is too long (at most %d characters)", memoryAudienceMax))
	}
	return reason, audience, nil
}

// bindOptionalJSON is bindJSON for a body that may be absent or empty (dst stays as it is);
// text that is not JSON at all is a 400.
func bindOptionalJSON(c echo.Context, dst any) error {
	body, err := readBody(c)
	if err != nil {
		return err
	}
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	if !json.Valid(body) {
		return apiError(http.StatusBadRequest, "Malformed JSON body")
	}
	c.Request().Body = io.NopCloser(bytes.NewReader(body))
	return bindJSON(c, dst)
}

// memoryGovern answers POST /api/memory/admin/{approve,reject,mandate,revoke}?item_id=
// (km_admin+): sets the action's status, audited as km_<action>. Optional body
// {"reason","audience"} (a mandate stores its audience). 200 {"id","status"}.
func (s *Server) memoryGovern(action string) echo.HandlerFunc {
	return func(c echo.Context) error {
		id, err := memoryItemIDParam(c)
		if err != nil {
			return err
		}
		var body memoryReasonBody
		if err := bindOptionalJSON(c, &body); err != nil {
			return err
		}
		reason, audience, err := body.values()
		if err != nil {
			return err
		}
		err = s.applyMemoryAction(c, id, action, reason, audience, false)
		var te *store.TransitionError
		switch {
		case errors.As(err, &te):
			return apiError(http.StatusConflict, capitalize(te.Error()))
		case errors.Is(err, store.ErrNotFound):
			return apiError(http.StatusNotFound, msgMemoryNotFound)
		case errors.Is(err, errInvalidAction):
			return apiError(http.StatusBadRequest, "Invalid action: "+action)
		case err != nil:
			return err
		}
		return c.JSON(http.StatusOK, map[string]string{"id": id, "status": memoryActions[action]})
	}
}

// editMemory answers POST /api/memory/admin/edit?item_id= (km_admin+): changes the given
// title, content, category and tags, audited as km_edit. 200 {"id","updated":[fields]}.
func (s *Server) editMemory(c echo.Context) error {
	id, err := memoryItemIDParam(c)
	if err != nil {
		return err
	}
	var body memoryItemBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	f := body.fields()
	if bad := validateMemory(&f, false); bad != nil {
		return apiError(http.StatusUnprocessableEntity, firstProblem(bad))
	}
	changed, err := s.editMemoryItem(c, id, f)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, msgMemoryNotFound)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"id": id, "updated": changed})
}

// memoryBatchBody is the body of POST /api/memory/admin/batch.
type memoryBatchBody struct {
	ItemIDs *[]string `json:"item_ids"`
	Action  string    `json:"action"`
	memoryReasonBody
}

// batchMemory answers POST /api/memory/admin/batch (km_admin+): one governance action on up
// to 500 items, each audited as km_<action> with batch=true, and the batch as km_batch.
// 200 {"success":[ids],"not_found":[ids]}.
func (s *Server) batchMemory(c echo.Context) error {
	var body memoryBatchBody
	if err := bindJSON(c, &body); err != nil {
		return err
	}
	action := strings.TrimSpace(body.Action)
	if _, ok := memoryActions[action]; !ok {
		return apiError(http.StatusBadRequest, "Invalid action: "+action)
	}
	if body.ItemIDs == nil || len(*body.ItemIDs) == 0 || len(*body.ItemIDs) > memoryAPIBatchMax {
		return apiError(http.StatusUnprocessableEntity, fmt.Sprintf("item_ids must list from 1 to %d item ids", memoryAPIBatchMax))
	}
	reason, audience, err := body.values()
	if err != nil {
		return err
	}
	if msg := governanceReasonProblem(action, reason); msg != "" {
		return apiError(http.StatusUnprocessableEntity, msg)
	}
	success, notFound := []string{}, []string{}
	refused := []map[string]string{}
	seen := map[string]bool{}
	for _, id := range *body.ItemIDs {
		id = strings.TrimSpace(id)
		if seen[id] {
			continue
		}
		seen[id] = true
		if id == "" {
			notFound = append(notFound, id)
			continue
		}
		err := s.applyMemoryAction(c, id, action, reason, audience, true)
		var te *store.TransitionError
		switch {
		case errors.Is(err, store.ErrNotFound):
			notFound = append(notFound, id)
		case errors.As(err, &te):
			refused = append(refused, map[string]string{"id": id, "detail": capitalize(te.Error())})
		case err != nil:
			return err
		default:
			success = append(success, id)
		}
	}
	if err := s.audit(c, auditMemoryBatch, "", auditResultOK, map[string]any{"action": action, "success": success, "not_found": notFound, "refused": len(refused)}); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"success": success, "not_found": notFound, "refused": refused})
}

// pendingMemory answers GET /api/memory/admin/pending (km_admin+): pending items, optionally
// of one category, paged. {"items","count","total","page","per_page"}.
func (s *Server) pendingMemory(c echo.Context) error {
	page, perPage, err := memoryPaging(c, memoryPerPageMax)
	if err != nil {
		return err
	}
	sort, err := memorySortParam(c)
	if err != nil {
		return err
	}
	f := store.KnowledgeFilter{Status: store.KnowledgePending, SeeAll: true, Category: strings.TrimSpace(c.QueryParam("category")),
		Sort: sort, Limit: perPage, Offset: (page - 1) * perPage}
	return s.memoryListJSON(c, f, page, perPage)
}

// memoryAudit answers GET /api/memory/admin/audit (km_admin+): corporate-memory audit rows
// (action km_*, or km_<action> for one action), newest first, paged by page and per_page.
func (s *Server) memoryAudit(c echo.Context) error {
	page, perPage, err := memoryPaging(c, memoryAuditPerPageMax)
	if err != nil {
		return err
	}
	f := store.AuditFilter{ActionPrefix: auditMemoryPrefix, Limit: perPage, Offset: (page - 1) * perPage}
	if a := strings.TrimSpace(c.QueryParam("action")); a != "" {
		if !slices.Contains(memoryAuditActions, a) {
			return apiError(http.StatusBadRequest, fmt.Sprintf("Invalid action: %q (allowed: %s)", a, strings.Join(memoryAuditActions, ", ")))
		}
		f.Action = auditMemoryPrefix + a
	}
	ctx := c.Request().Context()
	entries, err := s.store.QueryAudit(ctx, f)
	if err != nil {
		return err
	}
	total, err := s.store.CountAudit(ctx, f)
	if err != nil {
		return err
	}
	out := auditRows(entries)
	return c.JSON(http.StatusOK, map[string]any{"entries": out, "count": len(out), "total": total, "page": page, "per_page": perPage})
}
