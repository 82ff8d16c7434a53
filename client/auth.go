package client

import (
	"context"
	"net/http"
)

// TokenResponse is the answer of POST /auth/token.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	UserID      string `json:"user_id"`
	Email       string `json:"email"`
	Role        string `json:"role"`
}

// Login exchanges an e-mail and password for a bearer token. It does not change c.Token.
func (c *Client) Login(ctx context.Context, email, password string) (*TokenResponse, error) {
	var out TokenResponse
	err := c.do(ctx, http.MethodPost, "/auth/token", map[string]string{"email": email, "password": password}, &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// User is the caller as GET /api/me describes it, or a row of the admin user list.
type User struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Role      string `json:"role"`
	Active    *bool  `json:"active,omitempty"`
	CreatedAt string `json:"created_at,omitempty"`
	// Allows (what the role may do) and Admins (whom to ask) come with GET /api/me only.
	Allows []string `json:"allows,omitempty"`
	Admins []string `json:"admins,omitempty"`
}

// Me returns the user the token belongs to; a 401 means the token is not valid.
func (c *Client) Me(ctx context.Context) (*User, error) {
	var u User
	if err := c.do(ctx, http.MethodGet, "/api/me", nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// PersonalToken is a personal access token; Token is present only when just created.
type PersonalToken struct {
	ID        string  `json:"id"`
	Name      string  `json:"name"`
	Token     string  `json:"token,omitempty"`
	Prefix    string  `json:"prefix"`
	Scope     string  `json:"scope"`
	ExpiresAt *string `json:"expires_at"`
}

// CreateToken creates a personal access token for the caller (scope "read" or "full";
// expiresInDays 0 lets the server choose).
func (c *Client) CreateToken(ctx context.Context, name, scope string, expiresInDays int) (*PersonalToken, error) {
	in := map[string]any{"name": name}
	if scope != "" {
		in["scope"] = scope
	}
	if expiresInDays > 0 {
		in["expires_in_days"] = expiresInDays
	}
	var out PersonalToken
	if err := c.do(ctx, http.MethodPost, "/api/tokens", in, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
