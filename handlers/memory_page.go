package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// publicViewer is a KnowledgeFilter viewer that matches no author (it is not an e-mail), so
// the filter selects only the items everyone may see: nobody's pending or rejected ones.
const publicViewer = " public "

// memoryMineMax caps the "My contributions" list.
const memoryMineMax = 50

// memoryBatchMax caps how many items one batch action may touch.
const memoryBatchMax = 500

// memoryAuditMax is how many governance entries the audit tab shows.
const memoryAuditMax = 200

// memoryFilterMax caps the search text of the memory lists (characters).
const memoryFilterMax = 200

// memoryItemView turns a store item into its card; myVote is the viewer's vote on it and
// mayVote whether the viewer's role may vote at all.
func memoryItemView(k *store.KnowledgeItem, myVote int, mayVote bool) views.MemoryItem {
	author := k.SourceUser
	if author == "" {
		author = "corporate memory"
	}
	return views.MemoryItem{ID: k.ID, Title: k.Title, Content: k.Content, Category: k.Category, Tags: k.Tags,
		Status: k.Status, Author: author, Audience: k.Audience, Created: shortTime(k.CreatedAt), Updated: shortTime(k.UpdatedAt),
		Up: k.Upvotes, Down: k.Downvotes, MyVote: myVote, CanVote: mayVote && store.Votable(k.Status)}
}

// pageParam reads ?page= (default 1); anything but a positive integer is a 400.
func pageParam(c echo.Context) (int, error) {
	p := strings.TrimSpace(c.QueryParam("page"))
	if p == "" {
		return 1, nil
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 {
		return 0, apiError(http.StatusBadRequest, "page must be a positive whole number, not "+strconv.Quote(p))
	}
	return n, nil
}

// searchParam trims a search text and cuts it to memoryFilterMax characters.
func searchParam(s string) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > memoryFilterMax {
		s = string([]rune(s)[:memoryFilterMax])
	}
	return s
}

// memoryFilters reads the query of GET /corporate-memory; unknown values are a 400.
func memoryFilters(c echo.Context) (views.MemoryFilters, error) {
	f := views.MemoryFilters{Q: searchParam(c.QueryParam("q")), Category: strings.TrimSpace(c.QueryParam("category")),
		Status: strings.TrimSpace(c.QueryParam("status")), Sort: strings.TrimSpace(c.QueryParam("sort"))}
	switch f.Status {
	case "", "all", store.KnowledgeApproved, store.KnowledgeMandatory, store.KnowledgeRevoked, store.KnowledgeExpired:
	default:
		return f, apiError(http.StatusBadRequest, "Unknown status "+strconv.Quote(f.Status)+": use approved, mandatory, revoked, expired or all")
	}
	if _, ok := store.KnowledgeSorts[f.Sort]; !ok && f.Sort != "" {
		return f, apiError(http.StatusBadRequest, "Unknown sort "+strconv.Quote(f.Sort)+": use updated_at, score, created_at or title")
	}
	page, err := pageParam(c)
	f.Page = page
	return f, err
}

// memoryPage renders GET /corporate-memory (viewer+): the published items with search,
// filters, sort and votes, the contribute form and the user's items under review. An htmx
// search gets just the list.
func (s *Server) memoryPage(c echo.Context) error {
	f, err := memoryFilters(c)
	if err != nil {
		return err
	}
	d, err := s.memoryPageData(c, f, views.MemoryForm{})
	if err != nil {
		return err
	}
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "memory-list" {
		return render(c, http.StatusOK, views.MemoryList(d))
	}
	return render(c, http.StatusOK, views.CorporateMemory(s.pageShell(c, "memory", "Corporate memory"), d))
}

// memoryPageData builds the corporate-memory page for the current user.
func (s *Server) memoryPageData(c echo.Context, f views.MemoryFilters, form views.MemoryForm) (views.MemoryData, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	mayVote := userRole(c).AtLeast(auth.RoleAnalyst)
	d := views.MemoryData{Filters: f, Form: form, CSRF: s.csrfToken(c), CanContribute: mayVote}
	total, byStatus, cats, err := s.store.KnowledgeStats(ctx, store.KnowledgeFilter{Viewer: publicViewer})
	if err != nil {
		return d, err
	}
	d.Published, d.Categories = total, cats
	d.Chips = []views.MemoryStatusChip{{Status: "", Label: "Active", Count: byStatus[store.KnowledgeApproved] + byStatus[store.KnowledgeMandatory]},
		{Status: store.KnowledgeMandatory, Label: "Mandatory", Count: byStatus[store.KnowledgeMandatory]},
		{Status: store.KnowledgeApproved, Label: "Approved", Count: byStatus[store.KnowledgeApproved]}}
	for _, st := range []string{store.KnowledgeRevoked, store.KnowledgeExpired} {
		if byStatus[st] > 0 || f.Status == st {
			d.Chips = append(d.Chips, views.MemoryStatusChip{Status: st, Label: strings.ToUpper(st[:1]) + st[1:], Count: byStatus[st]})
		}
	}
	d.Chips = append(d.Chips, views.MemoryStatusChip{Status: "all", Label: "All", Count: total})

	kf := store.KnowledgeFilter{Viewer: publicViewer, Category: f.Category, Search: f.Q, Sort: f.Sort}
	switch f.Status {
	case "": // Active
		kf.Statuses = []string{store.KnowledgeApproved, store.KnowledgeMandatory}
	case "all":
	default:
		kf.Status = f.Status
	}
	kf.Limit, kf.Offset = views.MemoryPageSize, (f.Page-1)*views.MemoryPageSize
	items, total, err := s.store.ListKnowledge(ctx, kf)
	if err != nil {
		return d, err
	}
	d.Total = total
	d.Pages = max(1, (d.Total+views.MemoryPageSize-1)/views.MemoryPageSize)
	votes, err := s.store.KnowledgeVotesOf(ctx, u.ID)
	if err != nil {
		return d, err
	}
	for i := range items {
		d.Items = append(d.Items, memoryItemView(&items[i], votes[items[i].ID], mayVote))
	}
	mine, _, err := s.store.ListKnowledge(ctx, store.KnowledgeFilter{Viewer: u.Email, Author: u.Email, Sort: "created_at",
		Statuses: []string{store.KnowledgePending, store.KnowledgeRejected}})
	if err != nil {
		return d, err
	}
	for i := range mine {
		k := &mine[i]
		v := memoryItemView(k, 0, false)
		if k.Status == store.KnowledgeRejected {
			v.Note = s.rejectionNote(c, k.ID)
		}
		d.Mine = append(d.Mine, v)
		if len(d.Mine) == memoryMineMax {
			break
		}
	}
	return d, nil
}

// rejectionNote is the reason of an item's latest rejection, for its author.
func (s *Server) rejectionNote(c echo.Context, itemID string) string {
	entries, err := s.store.QueryAudit(c.Request().Context(), store.AuditFilter{Action: "km_reject", Resource: itemID, Limit: 1})
	if err != nil {
		s.log.ErrorContext(c.Request().Context(), "rejection reason", "item", itemID, "error", err)
		return ""
	}
	if len(entries) == 0 {
		return ""
	}
	if r, ok := entries[0].Params["reason"].(string); ok && r != "" {
		return "Reason: " + r
	}
	return ""
}

// memoryFormInput reads the title, category, tags and content of a page form; fields that
// the form did not send stay nil.
func memoryFormInput(c echo.Context) (memoryFields, views.MemoryForm, error) {
	params, err := c.FormParams()
	if err != nil {
		return memoryFields{}, views.MemoryForm{}, apiError(http.StatusBadRequest, "The form could not be read")
	}
	var f memoryFields
	// Browsers send a textarea's line breaks as CRLF; store them as plain LF.
	content := strings.ReplaceAll(params.Get("content"), "\r\n", "\n")
	form := views.MemoryForm{Title: params.Get("title"), Category: params.Get("category"), Tags: params.Get("tags"), Content: content}
	if params.Has("title") {
		f.Title = &form.Title
	}
	if params.Has("category") {
		f.Category = &form.Category
	}
	if params.Has("content") {
		f.Content = &form.Content
	}
	if params.Has("tags") {
		tags := strings.Split(form.Tags, ",")
		f.Tags = &tags
	}
	return f, form, nil
}

// memoryContribute handles POST /corporate-memory (analyst+): the contribute form. The new
// item is pending until a km_admin reviews it; bad input re-renders the page (422) with
// the errors and the typed values.
func (s *Server) memoryContribute(c echo.Context) error {
	fields, form, err := memoryFormInput(c)
	if err != nil {
		return err
	}
	if fields.Title == nil {
		empty := ""
		fields.Title = &empty
	}
	if bad := validateMemory(&fields, true); bad != nil {
		form.Errors = bad
		d, err := s.memoryPageData(c, views.MemoryFilters{Page: 1}, form)
		if err != nil {
			return err
		}
		return render(c, http.StatusUnprocessableEntity, views.CorporateMemory(s.shell(c, "memory", "Corporate memory"), d))
	}
	u := currentUser(c)
	k := &store.KnowledgeItem{Title: *fields.Title, SourceUser: u.Email, Contributors: []string{u.Email}, Status: store.KnowledgePending}
	if fields.Content != nil {
		k.Content = *fields.Content
	}
	if fields.Category != nil {
		k.Category = *fields.Category
	}
	if fields.Tags != nil {
		k.Tags = *fields.Tags
	}
	if err := s.store.CreateKnowledge(s.auditing(c, "km_create", "", map[string]any{"title": k.Title, "via": "page"}), k); err != nil {
		return err
	}
	return s.flashRedirect(c, "/corporate-memory", "Thanks! “"+k.Title+"” is waiting for review by a knowledge admin.")
}

func memoryNotFound(id string) error {
	return apiError(http.StatusNotFound, msgMemoryNotFound+": "+id)
}

// memoryVoteForm handles POST /corporate-memory/:item_id/vote (analyst+) with vote=1, -1
// or 0 (withdraw). htmx gets the item's vote widget back; a plain form post is redirected
// to the page.
func (s *Server) memoryVoteForm(c echo.Context) error {
	raw := strings.TrimSpace(c.FormValue("vote"))
	vote, err := strconv.Atoi(raw)
	if err != nil || vote < -1 || vote > 1 {
		return apiError(http.StatusBadRequest, "vote must be 1, -1 or 0 (withdraw), not "+strconv.Quote(raw))
	}
	k, err := s.visibleMemoryItem(c, c.Param("item_id"))
	if err != nil {
		return err
	}
	// A withdrawal is always allowed, as in the API.
	if vote != 0 && !store.Votable(k.Status) {
		return apiError(http.StatusConflict, "Only approved or mandatory items take votes; this one is "+k.Status)
	}
	u := currentUser(c)
	up, down, err := s.store.VoteKnowledge(c.Request().Context(), k.ID, u.ID, vote)
	if errors.Is(err, store.ErrNotFound) {
		return memoryNotFound(k.ID)
	}
	if errors.Is(err, store.ErrConflict) {
		return apiError(http.StatusConflict, "Only approved or mandatory items take votes; this one changed status meanwhile")
	}
	if err != nil {
		return err
	}
	if !isHTMX(c) {
		msg := "Your vote on “" + k.Title + "” was recorded"
		if vote == 0 {
			msg = "Your vote on “" + k.Title + "” was withdrawn"
		}
		return s.flashRedirect(c, "/corporate-memory", msg)
	}
	k.Upvotes, k.Downvotes = up, down
	return render(c, http.StatusOK, views.MemoryVote(memoryItemView(k, vote, true), s.csrfToken(c)))
}

// adminFilters is the view of the admin page a request asks for.
type adminFilters struct {
	tab, status, q, action string
	page                   int
}

// parseAdminFilters validates tab, status, q, page and the audit action filter from vals.
func parseAdminFilters(vals url.Values) (adminFilters, error) {
	f := adminFilters{tab: strings.TrimSpace(vals.Get("tab")), status: strings.TrimSpace(vals.Get("status")),
		q: searchParam(vals.Get("q")), action: strings.TrimSpace(vals.Get("action")), page: 1}
	switch f.tab {
	case "":
		f.tab = "pending"
	case "pending", "all", "audit", "collect":
	default:
		return f, apiError(http.StatusBadRequest, "Unknown tab "+strconv.Quote(f.tab)+": use pending, all, audit or collect")
	}
	if f.status != "" && !store.ValidKnowledgeStatus(f.status) {
		return f, apiError(http.StatusBadRequest, "Unknown status "+strconv.Quote(f.status)+": use "+strings.Join(store.KnowledgeStatuses, ", "))
	}
	if _, ok := memoryActions[f.action]; !ok && f.action != "" && f.action != "edit" && f.action != "create" {
		return f, apiError(http.StatusBadRequest, "Unknown action "+strconv.Quote(f.action)+": use create, approve, reject, mandate, revoke or edit")
	}
	if p := strings.TrimSpace(vals.Get("page")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return f, apiError(http.StatusBadRequest, "page must be a positive whole number, not "+strconv.Quote(p))
		}
		f.page = n
	}
	return f, nil
}

// memoryAdminPage renders GET /corporate-memory/admin (km_admin+): the review queue
// (default), all items (?tab=all&status=&q=) or the governance audit (?tab=audit&action=).
func (s *Server) memoryAdminPage(c echo.Context) error {
	f, err := parseAdminFilters(c.QueryParams())
	if err != nil {
		return err
	}
	d, err := s.memoryAdminData(c, f)
	if err != nil {
		return err
	}
	if isHTMX(c) && c.Request().Header.Get("HX-Target") == "km-list" {
		return render(c, http.StatusOK, views.MemoryAdminList(d))
	}
	return render(c, http.StatusOK, views.CorporateMemoryAdmin(s.pageShell(c, "memory-admin", "Memory admin"), d))
}

// memoryAdminBase is what every admin answer needs: counts, audiences, categories, CSRF.
func (s *Server) memoryAdminBase(c echo.Context) (views.MemoryAdminData, error) {
	d := views.MemoryAdminData{CSRF: s.csrfToken(c), Audiences: s.memoryAudiences()}
	total, byStatus, cats, err := s.store.KnowledgeStats(c.Request().Context(), store.KnowledgeFilter{SeeAll: true})
	if err != nil {
		return d, err
	}
	d.Categories = cats
	d.Stats = views.MemoryAdminStats{Pending: byStatus[store.KnowledgePending], Approved: byStatus[store.KnowledgeApproved],
		Mandatory: byStatus[store.KnowledgeMandatory], Total: total}
	return d, nil
}

// memoryAdminData builds the admin page for f.
func (s *Server) memoryAdminData(c echo.Context, f adminFilters) (views.MemoryAdminData, error) {
	d, err := s.memoryAdminBase(c)
	if err != nil {
		return d, err
	}
	d.Tab, d.Status, d.Q, d.Page, d.AuditAction = f.tab, f.status, f.q, f.page, f.action
	ctx := c.Request().Context()
	switch f.tab {
	case "audit":
		d.Audit, err = s.memoryAuditRows(c, f.action)
		return d, err
	case "collect":
		d.Collect, err = s.memoryCollectData(c)
		return d, err
	case "pending":
		d.Status, d.Q = "", ""
	}
	kf := store.KnowledgeFilter{SeeAll: true, Status: d.Status, Search: d.Q, Limit: views.MemoryPageSize, Offset: (f.page - 1) * views.MemoryPageSize}
	if f.tab == "pending" {
		kf.Status, kf.Sort = store.KnowledgePending, "created_at"
	}
	items, total, err := s.store.ListKnowledge(ctx, kf)
	if err != nil {
		return d, err
	}
	d.Total = total
	d.Pages = max(1, (total+views.MemoryPageSize-1)/views.MemoryPageSize)
	for i := range items {
		d.Rows = append(d.Rows, views.MemoryAdminRow{Item: memoryItemView(&items[i], 0, false)})
	}
	return d, s.addCollectionState(c, d.Rows)
}

// memoryAudiences are the mandate audiences: everyone, then each configured group.
func (s *Server) memoryAudiences() [][2]string {
	labels := map[string]string{}
	for name, g := range s.cfg.Groups {
		labels[name] = g.Label
	}
	for name, g := range s.cfg.CorporateMemory.Groups {
		labels[name] = g.Label
	}
	names := make([]string, 0, len(labels))
	for n := range labels {
		names = append(names, n)
	}
	sort.Strings(names)
	out := [][2]string{{"", "All users"}}
	for _, n := range names {
		label := labels[n]
		if label == "" {
			label = n
		}
		out = append(out, [2]string{"group:" + n, "Group: " + label})
	}
	return out
}

// checkGovernance validates the reason and audience of a governance action; "" when fine.
func (s *Server) checkGovernance(action, reason, audience string) string {
	if _, ok := memoryActions[action]; !ok {
		return "Unknown action " + strconv.Quote(action) + ": use approve, reject, mandate or revoke"
	}
	if msg := governanceReasonProblem(action, reason); msg != "" {
		return msg
	}
	if action != "mandate" {
		return ""
	}
	for _, a := range s.memoryAudiences() {
		if a[0] == audience {
			return ""
		}
	}
	return "Unknown audience " + strconv.Quote(audience) + ": choose all users or a configured group"
}

// pastTense is the message word of a governance action.
func pastTense(action string) string {
	switch action {
	case "approve":
		return "Approved"
	case "reject":
		return "Rejected"
	case "mandate":
		return "Made mandatory"
	case "revoke":
		return "Revoked"
	}
	return action
}

// memoryAdminAction handles POST /corporate-memory/admin/:item_id/:action (km_admin+) with
// approve, reject, mandate or revoke, a reason and, to mandate, an audience. htmx gets the
// row back (with the counts and a toast); bad input keeps the item as it was (422).
func (s *Server) memoryAdminAction(c echo.Context) error {
	id, action := c.Param("item_id"), c.Param("action")
	if _, ok := memoryActions[action]; !ok {
		return apiError(http.StatusNotFound, "Unknown action "+strconv.Quote(action)+": use approve, reject, mandate or revoke")
	}
	k, err := s.store.KnowledgeByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return memoryNotFound(id)
	}
	if err != nil {
		return err
	}
	reason, audience := strings.TrimSpace(c.FormValue("reason")), strings.TrimSpace(c.FormValue("audience"))
	if msg := s.checkGovernance(action, reason, audience); msg != "" {
		return s.memoryRowAnswer(c, k, views.MemoryAdminRow{Error: msg}, http.StatusUnprocessableEntity, "")
	}
	err = s.applyMemoryAction(c, id, action, reason, audience, false)
	if errors.Is(err, store.ErrNotFound) {
		return memoryNotFound(id)
	}
	if te := (*store.TransitionError)(nil); errors.As(err, &te) {
		return s.memoryRowAnswer(c, k, views.MemoryAdminRow{Error: capitalize(te.Error())}, http.StatusConflict, "")
	}
	if err != nil {
		return err
	}
	msg := pastTense(action) + ": “" + k.Title + "”"
	return s.memoryRowAnswer(c, nil, views.MemoryAdminRow{Message: msg}, http.StatusOK, msg)
}

// memoryAdminEdit handles POST /corporate-memory/admin/:item_id/edit (km_admin+): the
// inline edit form. Only fields that differ are written; errors re-render the open form.
func (s *Server) memoryAdminEdit(c echo.Context) error {
	id := c.Param("item_id")
	k, err := s.store.KnowledgeByID(c.Request().Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return memoryNotFound(id)
	}
	if err != nil {
		return err
	}
	fields, form, err := memoryFormInput(c)
	if err != nil {
		return err
	}
	if bad := validateMemory(&fields, false); bad != nil {
		form.Errors = bad
		return s.memoryRowAnswer(c, k, views.MemoryAdminRow{Edit: &form, Error: "Not saved: " + firstProblem(bad)}, http.StatusUnprocessableEntity, "")
	}
	if fields.Title != nil && *fields.Title == k.Title {
		fields.Title = nil
	}
	if fields.Content != nil && *fields.Content == k.Content {
		fields.Content = nil
	}
	if fields.Category != nil && *fields.Category == k.Category {
		fields.Category = nil
	}
	if fields.Tags != nil && strings.Join(*fields.Tags, "\x00") == strings.Join(k.Tags, "\x00") {
		fields.Tags = nil
	}
	if fields.Title == nil && fields.Content == nil && fields.Category == nil && fields.Tags == nil {
		return s.memoryRowAnswer(c, k, views.MemoryAdminRow{Message: "Nothing to save: no field changed"}, http.StatusOK, "")
	}
	changed, err := s.editMemoryItem(c, id, fields)
	if errors.Is(err, store.ErrNotFound) {
		return memoryNotFound(id)
	}
	if err != nil {
		return err
	}
	msg := "Saved " + strings.Join(changed, ", ") + " of “" + k.Title + "”"
	return s.memoryRowAnswer(c, nil, views.MemoryAdminRow{Message: msg}, http.StatusOK, msg)
}

// memoryRowAnswer answers a row action. k is the item to show (nil: load it afresh). htmx
// gets the row, the counts and a toast; a plain form post a redirect with the message, or,
// on an error, the admin page with it.
func (s *Server) memoryRowAnswer(c echo.Context, k *store.KnowledgeItem, row views.MemoryAdminRow, status int, toast string) error {
	if k == nil {
		var err error
		if k, err = s.store.KnowledgeByID(c.Request().Context(), c.Param("item_id")); err != nil {
			return err
		}
	}
	row.Item = memoryItemView(k, 0, false)
	if !isHTMX(c) {
		if status == http.StatusOK {
			return s.flashRedirect(c, "/corporate-memory/admin", row.Message)
		}
		d, err := s.memoryAdminData(c, adminFilters{tab: "all", page: 1})
		if err != nil {
			return err
		}
		d.Rows = []views.MemoryAdminRow{row}
		d.Total, d.Pages = 1, 1
		return render(c, status, views.CorporateMemoryAdmin(s.shell(c, "memory-admin", "Memory admin"), d))
	}
	d, err := s.memoryAdminBase(c)
	if err != nil {
		return err
	}
	return render(c, status, views.MemoryRowAnswer(row, d, toast))
}

// memoryAdminBatch handles POST /corporate-memory/admin/batch (km_admin+): one action, a
// reason and an audience for every checked item (ids). htmx gets the refreshed list of the
// tab the batch was sent from; unknown ids are skipped and counted.
func (s *Server) memoryAdminBatch(c echo.Context) error {
	params, err := c.FormParams()
	if err != nil {
		return apiError(http.StatusBadRequest, "The form could not be read")
	}
	f, err := parseAdminFilters(url.Values{"tab": {params.Get("tab")}, "status": {params.Get("status")}, "q": {params.Get("q")}, "page": {params.Get("page")}})
	if err != nil {
		return err
	}
	if f.tab == "audit" {
		f.tab = "pending"
	}
	action, reason, audience := strings.TrimSpace(params.Get("action")), strings.TrimSpace(params.Get("reason")), strings.TrimSpace(params.Get("audience"))
	var ids []string
	seen := map[string]bool{}
	for _, id := range params["ids"] {
		if id = strings.TrimSpace(id); id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	msg := s.checkGovernance(action, reason, audience)
	switch {
	case msg != "":
	case len(ids) == 0:
		msg = "Select at least one item first"
	case len(ids) > memoryBatchMax:
		msg = "Select at most " + strconv.Itoa(memoryBatchMax) + " items at once"
	}
	if msg != "" {
		return s.memoryBatchAnswer(c, f, http.StatusUnprocessableEntity, msg, "")
	}
	done, missing, refused := 0, 0, 0
	for _, id := range ids {
		err := s.applyMemoryAction(c, id, action, reason, audience, true)
		var te *store.TransitionError
		switch {
		case errors.Is(err, store.ErrNotFound):
			missing++
		case errors.As(err, &te):
			refused++
		case err != nil:
			return err
		default:
			done++
		}
	}
	toast := pastTense(action) + " " + strconv.Itoa(done) + " " + pluralWord(done, "item", "items")
	if missing > 0 {
		toast += "; " + strconv.Itoa(missing) + " no longer " + pluralWord(missing, "exists", "exist")
	}
	if refused > 0 {
		toast += "; " + strconv.Itoa(refused) + " skipped: their status does not allow it"
	}
	return s.memoryBatchAnswer(c, f, http.StatusOK, "", toast)
}

// memoryBatchAnswer answers a batch: the list (and counts, toast) for htmx; a redirect or,
// on an error, the page otherwise.
func (s *Server) memoryBatchAnswer(c echo.Context, f adminFilters, status int, batchErr, toast string) error {
	if !isHTMX(c) && status == http.StatusOK {
		return s.flashRedirect(c, "/corporate-memory/admin", toast)
	}
	d, err := s.memoryAdminData(c, f)
	if err != nil {
		return err
	}
	d.BatchError = batchErr
	if !isHTMX(c) {
		return render(c, status, views.CorporateMemoryAdmin(s.shell(c, "memory-admin", "Memory admin"), d))
	}
	return render(c, status, views.MemoryListAnswer(d, toast))
}

func pluralWord(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// memoryAuditRows are the governance entries (km_<action>, or only action), newest first.
func (s *Server) memoryAuditRows(c echo.Context, action string) ([]views.MemoryAuditRow, error) {
	ctx := c.Request().Context()
	f := store.AuditFilter{ActionPrefix: "km_", Limit: memoryAuditMax}
	if action != "" {
		f = store.AuditFilter{Action: "km_" + action, Limit: memoryAuditMax}
	}
	entries, err := s.store.QueryAudit(ctx, f)
	if err != nil {
		return nil, err
	}
	users, err := s.store.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	emails := make(map[string]string, len(users))
	for _, u := range users {
		emails[u.ID] = u.Email
	}
	items, _, err := s.store.ListKnowledge(ctx, store.KnowledgeFilter{SeeAll: true})
	if err != nil {
		return nil, err
	}
	titles := make(map[string]string, len(items))
	for _, k := range items {
		titles[k.ID] = k.Title
	}
	rows := make([]views.MemoryAuditRow, 0, len(entries))
	for _, e := range entries {
		who := emails[e.UserID]
		if who == "" {
			who = e.UserID
		}
		rows = append(rows, views.MemoryAuditRow{Time: shortTime(e.Timestamp), Admin: who, Action: e.Action, ItemID: e.Resource,
			ItemTitle: titles[e.Resource], Details: auditDetails(e.Params)})
	}
	return rows, nil
}

// auditDetails summarises a governance entry's parameters: reason, audience, fields, batch.
func auditDetails(p map[string]any) string {
	var parts []string
	if r, ok := p["reason"].(string); ok && r != "" {
		parts = append(parts, "“"+r+"”")
	}
	if a, ok := p["audience"].(string); ok && a != "" {
		parts = append(parts, "audience "+a)
	}
	if fs, ok := p["fields"].([]any); ok && len(fs) > 0 {
		names := make([]string, 0, len(fs))
		for _, f := range fs {
			if s, ok := f.(string); ok {
				names = append(names, s)
			}
		}
		parts = append(parts, "changed "+strings.Join(names, ", "))
	}
	if b, ok := p["batch"].(bool); ok && b {
		parts = append(parts, "batch")
	}
	if len(parts) == 0 {
		return "—"
	}
	return strings.Join(parts, " · ")
}
