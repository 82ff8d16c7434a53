package handlers

import (
	"errors"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"da/store"
)

// maxTokenDays caps expires_in_days at ten years.
const maxTokenDays = 3650

// createTokenRequest is the body of POST /api/tokens. ExpiresInDays is read as a float so
// that 1.5 is refused rather than truncated.
type createTokenRequest struct {
	Name          *string  `json:"name"`
	ExpiresInDays *float64 `json:"expires_in_days"`
	Scope         *string  `json:"scope"`
}

// tokenRow is a personal access token as GET /api/tokens shows it: never the secret or hash.
type tokenRow struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Prefix     string  `json:"prefix"`
	Scope      string  `json:"scope"`
	CreatedAt  string  `json:"created_at"`
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
}

func newTokenRow(t *store.PersonalToken) tokenRow {
	return tokenRow{ID: t.ID, Name: t.Name, Prefix: t.Prefix, Scope: t.Scope, CreatedAt: naiveUTC(t.CreatedAt),
		ExpiresAt: naiveUTCPtr(t.ExpiresAt), LastUsedAt: naiveUTCPtr(t.LastUsedAt)}
}

// createdToken is the 201 body of POST /api/tokens, the only place the token appears.
type createdToken struct {
	tokenRow
	Token string `json:"token"`
}

// createToken answers POST /api/tokens: {name, expires_in_days?, scope?} → 201 with the
// token in clear, once. Without expires_in_days the token does not expire.
func (s *Server) createToken(c echo.Context) error {
	var req createTokenRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	v := &ValidationError{}
	name := ""
	if req.Name == nil || strings.TrimSpace(*req.Name) == "" {
		v.Add("name", "Field required", "missing")
	} else {
		name = validName(v, "name", req.Name)
	}
	var expires *time.Time
	if req.ExpiresInDays != nil {
		days := *req.ExpiresInDays
		if days != math.Trunc(days) || days < 1 || days > maxTokenDays {
			v.Add("expires_in_days", "Input should be a whole number of days from 1 to 3650", "value_error")
		} else {
			e := time.Now().UTC().AddDate(0, 0, int(days))
			expires = &e
		}
	}
	scope := store.ScopeFull
	if req.Scope != nil {
		scope = strings.ToLower(strings.TrimSpace(*req.Scope))
		if scope != store.ScopeFull && scope != store.ScopeRead {
			v.Add("scope", `must be "read" or "full"`, "value_error")
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	ctx := s.auditing(c, auditTokenCreate, "", map[string]any{"name": strings.TrimSpace(name), "scope": scope})
	t, plain, err := s.store.CreatePersonalToken(ctx, currentUser(c).ID, name, scope, expires)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, createdToken{tokenRow: newTokenRow(t), Token: plain})
}

// listTokens answers GET /api/tokens: the caller's tokens that are not revoked.
func (s *Server) listTokens(c echo.Context) error {
	ts, err := s.store.ListPersonalTokens(c.Request().Context(), currentUser(c).ID)
	if err != nil {
		return err
	}
	out := make([]tokenRow, 0, len(ts))
	for i := range ts {
		out = append(out, newTokenRow(&ts[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"tokens": out})
}

// revokeToken answers DELETE /api/tokens/{id} → 204. Only the owner may revoke; another
// user's token id answers 404 as if it did not exist.
func (s *Server) revokeToken(c echo.Context) error {
	id := c.Param("id")
	err := s.store.RevokePersonalToken(s.auditing(c, auditTokenRevoke, id, nil), currentUser(c).ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return apiError(http.StatusNotFound, "Token not found")
	}
	if err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
