package auth

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TokenTTL is the lifetime of an issued JWT.
const TokenTTL = 24 * time.Hour

// Claims are the JWT claims the original system issued and its clients read.
type Claims struct {
	Email string `json:"email"`
	Role  string `json:"role"`
	// IssuedAtMicros is iat to the microsecond: iat alone (whole seconds) cannot tell a token
	// issued just before a password change from one issued just after it.
	IssuedAtMicros int64 `json:"iat_us,omitempty"`
	jwt.RegisteredClaims
}

// Issued is when the token was issued, to the microsecond when it says so. A token without
// iat counts as issued at the start of time, so any valid-after time ends it.
func (c *Claims) Issued() time.Time {
	if c.IssuedAtMicros > 0 {
		return time.UnixMicro(c.IssuedAtMicros).UTC()
	}
	if c.IssuedAt == nil {
		return time.Time{}
	}
	return c.IssuedAt.UTC()
}

// Issuer signs and verifies HS256 JWTs with one secret.
type Issuer struct {
	secret []byte
	now    func() time.Time
}

// NewIssuer returns an Issuer for secret.
func NewIssuer(secret string) *Issuer {
	return &Issuer{secret: []byte(secret), now: time.Now}
}

// ErrInvalidToken is returned for any token that must not authenticate.
var ErrInvalidToken = errors.New("auth: invalid or expired token")

// Issue signs a token for the user; it returns the token and its claims.
func (i *Issuer) Issue(userID, email string, role Role) (string, *Claims, error) {
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", nil, err
	}
	precise := i.now().UTC().Truncate(time.Microsecond)
	now := precise.Truncate(time.Second)
	c := &Claims{
		Email:          email,
		Role:           string(role),
		IssuedAtMicros: precise.UnixMicro(),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   userID,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(TokenTTL)),
			ID:        hex.EncodeToString(jti),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(i.secret)
	return s, c, err
}

// Parse verifies the signature (HS256 only), expiry and subject of a token.
func (i *Issuer) Parse(token string) (*Claims, error) {
	c := &Claims{}
	_, err := jwt.ParseWithClaims(token, c, func(*jwt.Token) (any, error) { return i.secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(i.now),
	)
	if err != nil || c.Subject == "" {
		return nil, ErrInvalidToken
	}
	return c, nil
}
