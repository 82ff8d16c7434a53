package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Files under DataDir/state that keep generated secrets across restarts.
const (
	JWTSecretFile     = "jwt_secret"
	SessionSecretFile = "session_secret"
)

// EnsureSecrets fills JWTSecret and SessionSecret when they were not configured, from
// random secrets created once in DataDir/state (file mode 0600, directory 0700) and reused
// by every later start and by every process sharing the data directory. A generated JWT
// secret is refused in production and logged as a warning otherwise; no secret is logged.
func (c *Config) EnsureSecrets(logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	dir := filepath.Join(c.DataDir, "state")
	if c.JWTSecret == "" {
		if c.IsProduction() {
			return errors.New("config: JWT_SECRET_KEY is required when DA_ENV=production")
		}
		s, path, err := loadOrCreateSecret(dir, JWTSecretFile, logger)
		if err != nil {
			return err
		}
		c.JWTSecret, c.JWTSecretGenerated = s, true
		logger.Warn("JWT_SECRET_KEY is not set: using a generated secret; set JWT_SECRET_KEY (DA_ENV=production requires it)",
			"file", path)
	}
	if c.SessionSecret == "" {
		s, path, err := loadOrCreateSecret(dir, SessionSecretFile, logger)
		if err != nil {
			return err
		}
		c.SessionSecret, c.SessionSecretGenerated = s, true
		logger.Info("SESSION_SECRET is not set: using a generated secret", "file", path)
	}
	return nil
}

// loadOrCreateSecret returns the secret kept in dir/name, creating it when absent. The
// new file is written completely under a temporary name and then hard-linked into place,
// so a second process starting at the same moment either wins or reads the whole winner.
func loadOrCreateSecret(dir, name string, logger *slog.Logger) (secret, path string, err error) {
	path = filepath.Join(dir, name)
	if s, err := readSecretFile(path, logger); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return s, path, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", path, fmt.Errorf("config: create %s: %w", dir, err)
	}
	buf := make([]byte, 48)
	if _, err := rand.Read(buf); err != nil {
		return "", path, fmt.Errorf("config: generate secret: %w", err)
	}
	secret = base64.StdEncoding.EncodeToString(buf)

	tmp, err := os.CreateTemp(dir, name+".tmp-*") // mode 0600
	if err != nil {
		return "", path, fmt.Errorf("config: write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(secret + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", path, fmt.Errorf("config: write %s: %w", path, err)
	}
	switch err := os.Link(tmp.Name(), path); {
	case err == nil:
		return secret, path, nil
	case errors.Is(err, fs.ErrExist): // another process was first: use its secret
		s, err := readSecretFile(path, logger)
		return s, path, err
	}
	// Hard links unsupported (some network or FUSE file systems): create exclusively.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		s, err := readSecretFile(path, logger)
		return s, path, err
	}
	if err != nil {
		return "", path, fmt.Errorf("config: write %s: %w", path, err)
	}
	_, err = f.WriteString(secret + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", path, fmt.Errorf("config: write %s: %w", path, err)
	}
	return secret, path, nil
}

// readSecretFile reads a kept secret, tightening its mode to 0600 if it was looser.
func readSecretFile(path string, logger *slog.Logger) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		return "", fmt.Errorf("config: read %s: %w", path, err)
	}
	s := strings.TrimSpace(string(b))
	if len(s) < MinSecretBytes {
		return "", fmt.Errorf("config: %s holds a secret shorter than %d bytes; delete the file to generate a new one",
			path, MinSecretBytes)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err == nil {
			logger.Warn("secret file was readable by others; its mode is now 0600", "file", path)
		}
	}
	return s, nil
}
