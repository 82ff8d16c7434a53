package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StoredProfile is a row of table_profiles: a table's profile document and when it was made.
type StoredProfile struct {
	// Profile is the profile document (engine/profile.Profile marshalled), a JSON object.
	Profile json.RawMessage
	// ProfiledAt is when the profile was saved, in UTC.
	ProfiledAt time.Time
}

// SaveProfile stores profile, which must be a JSON object, as tableID's profile, replacing
// any earlier one, with profiled_at set to now (UTC).
func (s *Store) SaveProfile(ctx context.Context, tableID string, profile []byte) error {
	if tableID == "" {
		return errors.New("store: save profile: table id is required")
	}
	trimmed := bytes.TrimSpace(profile)
	if !json.Valid(trimmed) || len(trimmed) == 0 || trimmed[0] != '{' {
		return fmt.Errorf("store: save profile %q: profile is not a JSON object", tableID)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO table_profiles (table_id, profile, profiled_at)
			VALUES (?, ?::JSON, ?)
			ON CONFLICT (table_id) DO UPDATE SET profile = excluded.profile, profiled_at = excluded.profiled_at`,
			tableID, string(trimmed), nowUTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save profile %q: %w", tableID, err)
	}
	return nil
}

// GetProfile returns tableID's profile document and when it was made, or ErrNotFound.
func (s *Store) GetProfile(ctx context.Context, tableID string) (json.RawMessage, time.Time, error) {
	var (
		doc string
		at  sql.NullTime
	)
	// JSON columns scan as decoded Go values; cast to text to keep the document as stored.
	err := s.DB.QueryRowContext(ctx,
		`SELECT profile::VARCHAR, profiled_at FROM table_profiles WHERE table_id = ?`, tableID).Scan(&doc, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, ErrNotFound
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("store: get profile %q: %w", tableID, err)
	}
	var when time.Time
	if at.Valid {
		when = at.Time.UTC()
	}
	return json.RawMessage(doc), when, nil
}

// ListProfiles returns every stored profile by table id.
func (s *Store) ListProfiles(ctx context.Context) (map[string]StoredProfile, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT table_id, profile::VARCHAR, profiled_at FROM table_profiles`)
	if err != nil {
		return nil, fmt.Errorf("store: list profiles: %w", err)
	}
	defer rows.Close()
	out := map[string]StoredProfile{}
	for rows.Next() {
		var (
			id, doc string
			at      sql.NullTime
		)
		if err := rows.Scan(&id, &doc, &at); err != nil {
			return nil, fmt.Errorf("store: list profiles: %w", err)
		}
		p := StoredProfile{Profile: json.RawMessage(doc)}
		if at.Valid {
			p.ProfiledAt = at.Time.UTC()
		}
		out[id] = p
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: list profiles: %w", err)
	}
	return out, nil
}

// DeleteProfile removes tableID's profile; ErrNotFound when there is none.
func (s *Store) DeleteProfile(ctx context.Context, tableID string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM table_profiles WHERE table_id = ?`, tableID)
		if err != nil {
			return fmt.Errorf("store: delete profile %q: %w", tableID, err)
		}
		return mustAffect(res, ErrNotFound)
	})
}
