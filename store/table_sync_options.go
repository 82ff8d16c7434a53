package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// WhereFilter keeps the rows where Column compares with Operator (eq, ne) to one of Values.
type WhereFilter struct {
	Column   string   `json:"column"`
	Operator string   `json:"operator"`
	Values   []string `json:"values"`
}

// SyncOptions are a registered table's extraction settings (table_sync_options). The zero
// value means: every column, every row, no partitions.
type SyncOptions struct {
	Columns        []string
	WhereFilters   []WhereFilter
	PartitionBy    string
	PartitionGrain string // day or month
}

// IsZero reports whether o holds no setting.
func (o SyncOptions) IsZero() bool {
	return len(o.Columns) == 0 && len(o.WhereFilters) == 0 && o.PartitionBy == "" && o.PartitionGrain == ""
}

// TableSyncOptions returns the extraction settings of table id (zero when it has none).
func (s *Store) TableSyncOptions(ctx context.Context, id string) (SyncOptions, error) {
	var cols, filters, part, grain sql.NullString
	err := s.DB.QueryRowContext(ctx, `SELECT columns, where_filters, partition_by, partition_grain
		FROM table_sync_options WHERE table_id = $1`, strings.ToLower(id)).Scan(&cols, &filters, &part, &grain)
	if errors.Is(err, sql.ErrNoRows) {
		return SyncOptions{}, nil
	}
	if err != nil {
		return SyncOptions{}, fmt.Errorf("store: sync options of %q: %w", id, err)
	}
	o := SyncOptions{PartitionBy: part.String, PartitionGrain: grain.String}
	for _, c := range strings.Split(cols.String, ",") {
		if c = strings.TrimSpace(c); c != "" {
			o.Columns = append(o.Columns, c)
		}
	}
	if filters.String != "" {
		if err := json.Unmarshal([]byte(filters.String), &o.WhereFilters); err != nil {
			return SyncOptions{}, fmt.Errorf("store: sync options of %q: where_filters: %w", id, err)
		}
	}
	return o, nil
}

// SetTableSyncOptions replaces the extraction settings of table id; zero options delete them.
func (s *Store) SetTableSyncOptions(ctx context.Context, id string, o SyncOptions) error {
	id = strings.ToLower(id)
	var filters string
	if len(o.WhereFilters) > 0 {
		b, err := json.Marshal(o.WhereFilters)
		if err != nil {
			return fmt.Errorf("store: sync options of %q: %w", id, err)
		}
		filters = string(b)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM table_sync_options WHERE table_id = $1`, id); err != nil {
			return err
		}
		if o.IsZero() {
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO table_sync_options (table_id, columns, where_filters, partition_by, partition_grain, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, strings.Join(o.Columns, ","), filters, o.PartitionBy, o.PartitionGrain, time.Now().UTC())
		return err
	})
	if err != nil {
		return fmt.Errorf("store: set sync options of %q: %w", id, err)
	}
	return nil
}
