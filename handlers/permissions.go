package handlers

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"da/store"
)

// datasetPattern accepts a table id (letters, digits, _, - and dots, as Keboola-style ids
// have) or a bucket wildcard "<bucket>.*".
var datasetPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}$`)

// validDataset reports whether d names a table or a bucket wildcard.
func validDataset(d string) bool {
	base, _ := strings.CutSuffix(d, ".*")
	return datasetPattern.MatchString(base) && !strings.Contains(base, "..") && !strings.HasSuffix(base, ".")
}

// permissionRequest is the body of POST and DELETE /api/admin/permissions.
type permissionRequest struct {
	UserID  *string `json:"user_id" required:"true"`
	Dataset *string `json:"dataset" required:"true" example:"in.c-finance.*"`
	Access  *string `json:"access" example:"read"`
}

// permissionRow is one permission as the API shows it.
type permissionRow struct {
	UserID  string `json:"user_id"`
	Dataset string `json:"dataset"`
	Access  string `json:"access"`
}

func permissionRows(ps []store.Permission) []permissionRow {
	out := make([]permissionRow, 0, len(ps))
	for _, p := range ps {
		out = append(out, permissionRow{UserID: p.UserID, Dataset: p.Dataset, Access: p.Access})
	}
	return out
}

// bindPermission decodes and validates a permission body; withAccess also checks access.
func bindPermission(c echo.Context, withAccess bool) (userID, dataset, access string, err error) {
	var req permissionRequest
	if err := bindJSON(c, &req); err != nil {
		return "", "", "", err
	}
	v := &ValidationError{}
	if req.UserID == nil || strings.TrimSpace(*req.UserID) == "" {
		v.Add("user_id", "Field required", "missing")
	} else {
		userID = strings.TrimSpace(*req.UserID)
	}
	if req.Dataset == nil || strings.TrimSpace(*req.Dataset) == "" {
		v.Add("dataset", "Field required", "missing")
	} else if dataset = store.NormalizeDataset(*req.Dataset); !validDataset(dataset) {
		v.Add("dataset", `must be a table id or a bucket wildcard such as "in.c-finance.*"`, "value_error")
	}
	access = store.AccessRead
	if withAccess && req.Access != nil {
		access = strings.ToLower(strings.TrimSpace(*req.Access))
		if access != store.AccessRead && access != store.AccessNone {
			v.Add("access", `must be "read" or "none"`, "value_error")
		}
	}
	return userID, dataset, access, v.Err()
}

// grantPermission answers POST /api/admin/permissions (admin): {user_id, dataset, access}
// → 201, replacing any earlier access of that user to that dataset.
func (s *Server) grantPermission(c echo.Context) error {
	userID, dataset, access, err := bindPermission(c, true)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	if _, err := s.store.GetUserByID(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	} else if err != nil {
		return err
	}
	if msg, err := s.unknownDataset(ctx, dataset); err != nil {
		return err
	} else if msg != "" {
		v := &ValidationError{}
		v.Add("dataset", msg, "value_error")
		return v
	}
	p, err := s.store.Grant(s.auditing(c, auditPermGrant, dataset, map[string]any{"user_id": userID, "access": access}), userID, dataset, access)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, permissionRow{UserID: p.UserID, Dataset: p.Dataset, Access: p.Access})
}

// revokePermission answers DELETE /api/admin/permissions (admin): {user_id, dataset} →
// {"revoked": true}, or 404 when there is no such grant.
func (s *Server) revokePermission(c echo.Context) error {
	userID, dataset, _, err := bindPermission(c, false)
	if err != nil {
		return err
	}
	err = s.store.Revoke(s.auditing(c, auditPermRevoke, dataset, map[string]any{"user_id": userID}), userID, dataset)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Permission not found: this user has no grant for "+dataset)
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"revoked": true, "user_id": userID, "dataset": dataset})
}

// listPermissions answers GET /api/admin/permissions (admin): every grant.
func (s *Server) listPermissions(c echo.Context) error {
	ps, err := s.store.ListPermissions(c.Request().Context(), "")
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"permissions": permissionRows(ps)})
}

// listUserPermissions answers GET /api/admin/permissions/{user_id} (admin).
func (s *Server) listUserPermissions(c echo.Context) error {
	ctx := c.Request().Context()
	userID := c.Param("user_id")
	if _, err := s.store.GetUserByID(ctx, userID); errors.Is(err, store.ErrNotFound) {
		return userNotFound()
	} else if err != nil {
		return err
	}
	ps, err := s.store.ListPermissions(ctx, userID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user_id": userID, "permissions": permissionRows(ps)})
}

// unknownDataset checks a grant's dataset against this instance: a table id must name a
// registered or served table, a wildcard "<bucket>.*" a bucket some registered table is in.
// It returns "" when the dataset is known, else a message with examples from the instance.
func (s *Server) unknownDataset(ctx context.Context, dataset string) (string, error) {
	tables, err := s.store.ListTables(ctx)
	if err != nil {
		return "", err
	}
	bucket, wildcard := strings.CutSuffix(dataset, ".*")
	var ids, buckets []string
	seen := map[string]bool{}
	for _, t := range tables {
		id, b := strings.ToLower(t.ID), strings.ToLower(t.Bucket)
		if !wildcard && id == dataset || wildcard && b != "" && b == bucket {
			return "", nil
		}
		ids = append(ids, id)
		if b != "" && !seen[b] {
			seen[b] = true
			buckets = append(buckets, b+".*")
		}
	}
	if !wildcard {
		if _, served := s.engine.Catalog().Table(dataset); served {
			return "", nil
		}
	}
	examples := append(firstN(ids, 3), firstN(buckets, 2)...)
	what := "no table " + strconv.Quote(dataset) + " is registered"
	if wildcard {
		what = "no registered table is in the bucket " + strconv.Quote(bucket)
	}
	if len(examples) == 0 {
		return what + " (register or upload a table first)", nil
	}
	return what + "; for example: " + strings.Join(examples, ", "), nil
}

// firstN returns at most n elements of s.
func firstN(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
