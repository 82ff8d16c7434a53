package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"da/auth"
	"da/store"
	"da/views"
)

// decidedRequestsShown is how many decided requests the admin's page lists.
const decidedRequestsShown = 20

func accessRequestView(r *store.AccessRequest) views.AccessRequestRow {
	v := views.AccessRequestRow{ID: r.ID, UserEmail: r.UserEmail, TableID: r.TableID, Reason: r.Reason,
		Status: r.Status, ReviewedBy: r.ReviewedBy, CreatedAt: shortTime(r.CreatedAt)}
	if r.ReviewedAt != nil {
		v.ReviewedAt = shortTime(*r.ReviewedAt)
	}
	return v
}

// showAccessRequests renders GET /access-requests (viewer+).
func (s *Server) showAccessRequests(c echo.Context) error {
	d, err := s.accessRequestsData(c, views.RequestForm{TableID: c.QueryParam("table")})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AccessRequests(s.pageShell(c, "access-requests", "Access requests"), d))
}

func (s *Server) accessRequestsData(c echo.Context, f views.RequestForm) (views.AccessRequestsData, error) {
	ctx := c.Request().Context()
	u := currentUser(c)
	d := views.AccessRequestsData{Form: f, CSRF: s.csrfToken(c), IsAdmin: auth.Role(u.Role) == auth.RoleAdmin}
	readable, err := s.principals.ReadableTables(ctx, u)
	if err != nil {
		return d, err
	}
	tables, err := s.store.ListTables(ctx)
	if err != nil {
		return d, err
	}
	for i := range tables {
		if !readable.Has(tables[i].ID) {
			d.Requestable = append(d.Requestable, permTable(&tables[i]))
		}
	}
	mine, err := s.store.ListAccessRequestsByUser(ctx, u.ID)
	if err != nil {
		return d, err
	}
	for i := range mine {
		d.Mine = append(d.Mine, accessRequestView(&mine[i]))
	}
	if d.IsAdmin {
		queue, err := s.store.ListPendingAccessRequests(ctx)
		if err != nil {
			return d, err
		}
		for i := range queue {
			d.Queue = append(d.Queue, accessRequestView(&queue[i]))
		}
		decided, err := s.store.ListDecidedAccessRequests(ctx, decidedRequestsShown)
		if err != nil {
			return d, err
		}
		for i := range decided {
			d.Decided = append(d.Decided, accessRequestView(&decided[i]))
		}
	}
	return d, nil
}

// showRequestDialog answers GET /access-requests/new?table=<id> (viewer+): the "Request
// access" dialog for one table, an htmx fragment that opens itself. A table the user can
// already read, or one with a pending request, answers the dialog with that message.
func (s *Server) showRequestDialog(c echo.Context) error {
	id := strings.TrimSpace(c.QueryParam("table"))
	if id == "" {
		return apiError(http.StatusBadRequest, "The table query parameter is required")
	}
	t, err := s.lookupTable(c, id)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Table not found: "+id)
	}
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	done := ""
	if ok, err := s.principals.CanAccessTable(ctx, u, t.ID); err != nil {
		return err
	} else if ok {
		done = "You can already read " + t.ID + "."
	} else if pending, err := s.store.HasPendingAccessRequest(ctx, u.ID, t.ID); err != nil {
		return err
	} else if pending {
		done = "Your request for " + t.ID + " is waiting for an admin."
	}
	return render(c, http.StatusOK, views.RequestDialog(permTable(t), views.RequestForm{TableID: t.ID}, s.csrfToken(c), done))
}

// submitAccessRequest handles POST /access-requests (viewer+): the page form (303 to the
// page) or the dialog form (dialog=1: the dialog again, with the outcome).
func (s *Server) submitAccessRequest(c echo.Context) error {
	f := views.RequestForm{TableID: strings.TrimSpace(c.FormValue("table_id")), Reason: strings.TrimSpace(c.FormValue("reason")),
		Errors: map[string]string{}}
	inDialog := c.FormValue("dialog") == "1"
	ctx := c.Request().Context()
	u := currentUser(c)
	var t *store.Table
	if f.TableID == "" {
		f.Errors["table_id"] = "Choose the table you need"
	} else {
		var err error
		t, err = s.lookupTable(c, f.TableID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			f.Errors["table_id"] = "There is no table " + f.TableID
		case err != nil:
			return err
		}
	}
	if len(f.Reason) > maxReasonLen {
		f.Errors["reason"] = "The reason may have at most 2000 characters"
	}
	if t != nil && len(f.Errors) == 0 {
		ok, err := s.principals.CanAccessTable(ctx, u, t.ID)
		if err != nil {
			return err
		}
		if ok {
			f.Errors["table_id"] = "You can already read " + t.ID
		}
	}
	if len(f.Errors) == 0 {
		r := &store.AccessRequest{UserID: u.ID, UserEmail: u.Email, TableID: t.ID, Reason: f.Reason}
		err := s.store.CreateAccessRequest(s.auditing(c, auditRequestCreate, "", map[string]any{"table_id": r.TableID, "via": "page"}), r)
		switch {
		case errors.Is(err, store.ErrConflict):
			f.Errors["table_id"] = "You already have a pending request for " + t.ID
		case err != nil:
			return err
		default:
			msg := "Request for " + r.TableID + " sent; an admin will review it"
			if inDialog {
				return render(c, http.StatusOK, views.RequestDialog(permTable(t), f, s.csrfToken(c), msg))
			}
			return s.flashRedirect(c, "/access-requests", msg)
		}
	}
	if inDialog && t != nil {
		return render(c, http.StatusUnprocessableEntity, views.RequestDialog(permTable(t), f, s.csrfToken(c), ""))
	}
	d, err := s.accessRequestsData(c, f)
	if err != nil {
		return err
	}
	return render(c, http.StatusUnprocessableEntity, views.AccessRequests(s.shell(c, "access-requests", "Access requests"), d))
}

// approveAccessRequestPage handles POST /access-requests/:id/approve (admin).
func (s *Server) approveAccessRequestPage(c echo.Context) error { return s.reviewRequestPage(c, true) }

// denyAccessRequestPage handles POST /access-requests/:id/deny (admin).
func (s *Server) denyAccessRequestPage(c echo.Context) error { return s.reviewRequestPage(c, false) }

// reviewRequestPage approves or denies and answers the queue row: the decision, or, for a
// request someone else already processed, who did it.
func (s *Server) reviewRequestPage(c echo.Context, approve bool) error {
	ctx := c.Request().Context()
	id := c.Param("id")
	review, action, verb := s.store.DenyAccessRequest, auditRequestDeny, "Denied"
	if approve {
		review, action, verb = s.store.ApproveAccessRequest, auditRequestApprove, "Approved: "
	}
	r, err := review(s.auditing(c, action, id, map[string]any{"via": "page"}), id, currentUser(c).Email)
	var msg string
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apiError(http.StatusNotFound, "Access request not found")
	case errors.Is(err, store.ErrConflict):
		r, err = s.store.GetAccessRequest(ctx, id)
		if err != nil {
			return err
		}
		msg = "Already " + r.Status + " by " + r.ReviewedBy
	case err != nil:
		return err
	default:
		if approve {
			msg = verb + r.UserEmail + " can now read " + r.TableID
		} else {
			msg = verb
		}
	}
	if !isHTMX(c) {
		return s.flashRedirect(c, "/access-requests", msg)
	}
	row := accessRequestView(r)
	row.Message = msg
	pending, err := s.store.ListPendingAccessRequests(ctx)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.ReviewAnswer(row, len(pending)))
}
