package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// MinPasswordLength is the shortest password accepted anywhere.
const MinPasswordLength = 8

// Argon2id parameters, the same as the original system's (argon2-cffi defaults), so its
// password hashes keep working.
const (
	argonTime    = 3
	argonMemory  = 64 * 1024
	argonThreads = 4
	argonKeyLen  = 32
	argonSaltLen = 16
)

// ErrPasswordMismatch is returned by VerifyPassword for a wrong password.
var ErrPasswordMismatch = errors.New("auth: password does not match")

// ValidatePassword checks the password policy and names the problem.
func ValidatePassword(pw string) error {
	if len(pw) < MinPasswordLength {
		return fmt.Errorf("password must be at least %d characters", MinPasswordLength)
	}
	if len(pw) > 1024 {
		return errors.New("password must be at most 1024 characters")
	}
	return nil
}

// HashPassword returns an Argon2id PHC string:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash> with unpadded standard base64.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// VerifyPassword checks pw against any valid Argon2id (or Argon2i) PHC string.
// It returns ErrPasswordMismatch for a wrong password and another error for a malformed hash.
func VerifyPassword(phc, pw string) error {
	parts := strings.Split(phc, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" {
		return errors.New("auth: malformed password hash")
	}
	variant := parts[1]
	if variant != "argon2id" && variant != "argon2i" {
		return fmt.Errorf("auth: unsupported hash variant %q", variant)
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return errors.New("auth: unsupported argon2 version")
	}
	var m, t, p uint64
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return errors.New("auth: malformed argon2 parameters")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return errors.New("auth: malformed argon2 parameters")
		}
		switch k {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		}
	}
	if m == 0 || t == 0 || p == 0 || p > 255 || m > 4*1024*1024 || t > 64 {
		return errors.New("auth: argon2 parameters out of range")
	}
	dec := func(s string) ([]byte, error) {
		s = strings.TrimRight(s, "=")
		return base64.RawStdEncoding.DecodeString(s)
	}
	salt, err := dec(parts[4])
	if err != nil {
		return errors.New("auth: malformed salt")
	}
	want, err := dec(parts[5])
	if err != nil || len(want) == 0 || len(want) > 1024 {
		return errors.New("auth: malformed hash")
	}
	var got []byte
	if variant == "argon2id" {
		got = argon2.IDKey([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	} else {
		got = argon2.Key([]byte(pw), salt, uint32(t), uint32(m), uint8(p), uint32(len(want)))
	}
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return ErrPasswordMismatch
	}
	return nil
}

// dummyHash is verified against when a user does not exist, so that response time does not
// reveal which e-mail addresses have accounts.
var dummyHash, _ = HashPassword("no-such-user-password")

// BurnPasswordCheck spends the same time as a real verification.
func BurnPasswordCheck(pw string) { _ = VerifyPassword(dummyHash, pw) }
