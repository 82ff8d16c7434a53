package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"da/store"
)

// maxReasonLen caps the free-text reason of an access request.
const maxReasonLen = 2000

// accessRequestRow is an access request as the API shows it (the original's row fields).
type accessRequestRow struct {
	ID         string  `json:"id"`
	UserID     string  `json:"user_id"`
	UserEmail  string  `json:"user_email"`
	TableID    string  `json:"table_id"`
	Reason     string  `json:"reason"`
	Status     string  `json:"status"`
	ReviewedBy *string `json:"reviewed_by"`
	ReviewedAt *string `json:"reviewed_at"`
	CreatedAt  string  `json:"created_at"`
}

func accessRequestRows(rs []store.AccessRequest) []accessRequestRow {
	out := make([]accessRequestRow, 0, len(rs))
	for _, r := range rs {
		out = append(out, accessRequestRow{ID: r.ID, UserID: r.UserID, UserEmail: r.UserEmail, TableID: r.TableID,
			Reason: r.Reason, Status: r.Status, ReviewedBy: optString(r.ReviewedBy), ReviewedAt: naiveUTCPtr(r.ReviewedAt),
			CreatedAt: naiveUTC(r.CreatedAt)})
	}
	return out
}

// accessRequestBody is the body of POST /api/access-requests.
type accessRequestBody struct {
	TableID *string `json:"table_id" required:"true" example:"orders"`
	Reason  *string `json:"reason" example:"Quarterly revenue report"`
}

// lookupTable finds a registry row by id, ignoring case.
func (s *Server) lookupTable(c echo.Context, id string) (*store.Table, error) {
	ctx := c.Request().Context()
	t, err := s.store.GetTable(ctx, strings.ToLower(id))
	if errors.Is(err, store.ErrNotFound) && id != strings.ToLower(id) {
		t, err = s.store.GetTable(ctx, id)
	}
	return t, err
}

// createAccessRequest answers POST /api/access-requests (viewer+): {table_id, reason?} → 201
// {id, status, table_id}. Unknown tables are 404; a table the caller can already read and a
// second pending request for the same table are 409.
func (s *Server) createAccessRequest(c echo.Context) error {
	var req accessRequestBody
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v := &ValidationError{}
	tableID, reason := "", ""
	if req.TableID == nil || strings.TrimSpace(*req.TableID) == "" {
		v.Add("table_id", "Field required", "missing")
	} else {
		tableID = strings.TrimSpace(*req.TableID)
	}
	if req.Reason != nil {
		reason = strings.TrimSpace(*req.Reason)
		if len(reason) > maxReasonLen {
			v.Add("reason", "String should have at most 2000 characters", "string_too_long")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	u := currentUser(c)
	t, err := s.lookupTable(c, tableID)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Table not found: "+tableID)
	}
	if err != nil {
		return err
	}
	ok, err := s.principals.CanAccessTable(ctx, u, t.ID)
	if err != nil {
		return err
	}
	if ok {
		return apiError(http.StatusConflict, "You already have access to this table")
	}
	r := &store.AccessRequest{UserID: u.ID, UserEmail: u.Email, TableID: t.ID, Reason: reason}
	if err := s.store.CreateAccessRequest(s.auditing(c, auditRequestCreate, "", map[string]any{"table_id": r.TableID}), r); errors.Is(err, store.ErrConflict) {
		return apiError(http.StatusConflict, "You already have a pending request for this table")
	} else if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"id": r.ID, "status": r.Status, "table_id": r.TableID})
}

// listMyAccessRequests answers GET /api/access-requests/my: the caller's own requests,
// newest first.
func (s *Server) listMyAccessRequests(c echo.Context) error {
	rs, err := s.store.ListAccessRequestsByUser(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"requests": accessRequestRows(rs)})
}

// listPendingAccessRequests answers GET /api/access-requests/pending (admin).
func (s *Server) listPendingAccessRequests(c echo.Context) error {
	rs, err := s.store.ListPendingAccessRequests(c.Request().Context())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"requests": accessRequestRows(rs), "count": len(rs)})
}

// approveAccessRequest answers POST /api/access-requests/{id}/approve (admin): the request
// is approved and the requester gets read access, together.
func (s *Server) approveAccessRequest(c echo.Context) error {
	return s.reviewAccessRequest(c, true)
}

// denyAccessRequest answers POST /api/access-requests/{id}/deny (admin).
func (s *Server) denyAccessRequest(c echo.Context) error {
	return s.reviewAccessRequest(c, false)
}

func (s *Server) reviewAccessRequest(c echo.Context, approve bool) error {
	id := c.Param("id")
	reviewer := currentUser(c).Email
	review, action := s.store.DenyAccessRequest, auditRequestDeny
	if approve {
		review, action = s.store.ApproveAccessRequest, auditRequestApprove
	}
	r, err := review(s.auditing(c, action, id, nil), id, reviewer)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return apiError(http.StatusNotFound, "Access request not found")
	case errors.Is(err, store.ErrConflict):
		return apiError(http.StatusConflict, "Access request was already processed")
	case err != nil:
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"status": r.Status, "id": r.ID, "table_id": r.TableID, "user_id": r.UserID})
}
