package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/labstack/echo/v4"

	"da/engine/connectors"
	"da/engine/connectors/keboola"
	"da/store"
)

// syncOptionsInput are the per-table extraction settings of a register or edit request.
type syncOptionsInput struct {
	Columns        *[]string            `json:"columns"`
	WhereFilters   *[]store.WhereFilter `json:"where_filters"`
	PartitionBy    *string              `json:"partition_by"`
	PartitionGrain *string              `json:"partition_grain"`
}

func (in syncOptionsInput) given() bool {
	return in.Columns != nil || in.WhereFilters != nil || in.PartitionBy != nil || in.PartitionGrain != nil
}

// maxOptionColumns bounds the column selection and filters of one table.
const maxOptionColumns = 1000

// applySyncOptions validates the settings of in against the table's strategy and merges them
// into cur. Problems come back keyed by field name.
func applySyncOptions(in syncOptionsInput, t *store.Table, cur store.SyncOptions) (store.SyncOptions, map[string]string) {
	errs := map[string]string{}
	o := cur
	name := func(s string) bool {
		return s != "" && len(s) <= 255 && !strings.ContainsFunc(s, unicode.IsControl)
	}
	if in.Columns != nil {
		o.Columns = nil
		for _, c := range *in.Columns {
			c = strings.TrimSpace(c)
			if !name(c) {
				errs["columns"] = "a list of column names (each 1 to 255 characters)"
				break
			}
			if !slices.Contains(o.Columns, c) {
				o.Columns = append(o.Columns, c)
			}
		}
		if len(o.Columns) > maxOptionColumns {
			errs["columns"] = fmt.Sprintf("at most %d columns", maxOptionColumns)
		}
	}
	if in.WhereFilters != nil {
		o.WhereFilters = nil
		for i, f := range *in.WhereFilters {
			f.Column, f.Operator = strings.TrimSpace(f.Column), strings.ToLower(strings.TrimSpace(f.Operator))
			if f.Operator == "" {
				f.Operator = "eq"
			}
			switch {
			case !name(f.Column):
				errs["where_filters"] = fmt.Sprintf("filter %d: column must be a column name", i+1)
			case f.Operator != "eq" && f.Operator != "ne":
				errs["where_filters"] = fmt.Sprintf("filter %d: operator must be eq or ne (got %q)", i+1, f.Operator)
			case len(f.Values) == 0 || len(f.Values) > maxOptionColumns:
				errs["where_filters"] = fmt.Sprintf("filter %d: give 1 to %d values", i+1, maxOptionColumns)
			}
			o.WhereFilters = append(o.WhereFilters, f)
		}
		if len(o.WhereFilters) > 20 {
			errs["where_filters"] = "at most 20 filters"
		}
	}
	if in.PartitionBy != nil {
		o.PartitionBy = strings.TrimSpace(*in.PartitionBy)
		if o.PartitionBy != "" && !name(o.PartitionBy) {
			errs["partition_by"] = "a column name"
		}
	}
	if in.PartitionGrain != nil {
		o.PartitionGrain = strings.ToLower(strings.TrimSpace(*in.PartitionGrain))
		if o.PartitionGrain != "" && o.PartitionGrain != "day" && o.PartitionGrain != "month" {
			errs["partition_grain"] = `must be "day" or "month"`
		}
	}
	if t.SyncStrategy == "partitioned" && t.SourceType == keboola.Type && o.PartitionBy == "" && errs["partition_by"] == "" {
		errs["partition_by"] = "a partitioned table needs partition_by: its date or timestamp column"
	}
	return o, errs
}

// saveSyncOptions stores o for t when it differs from cur.
func (s *Server) saveSyncOptions(ctx context.Context, id string, o, cur store.SyncOptions) (bool, error) {
	if fmt.Sprint(o) == fmt.Sprint(cur) {
		return false, nil
	}
	return true, s.store.SetTableSyncOptions(ctx, id, o)
}

// keboolaConnector is the instance's Keboola connector, when it is built in.
func (s *Server) keboolaConnector() *keboola.Connector {
	if c, ok := s.connectorsRegistry().Get(keboola.Type); ok {
		if k, ok := c.(*keboola.Connector); ok {
			return k
		}
	}
	return nil
}

// modeRefusal says why a connector cannot serve a query mode, when it can tell.
func modeRefusal(c connectors.Connector, mode string) string {
	if r, ok := c.(interface{ ModeRefusal(string) string }); ok {
		return r.ModeRefusal(mode)
	}
	return ""
}

// notConfigured reports a connector error meaning the source has no settings yet.
func notConfigured(err error) bool { return errors.Is(err, connectors.ErrNotConfigured) }

// keboolaHealth is services.keboola of /api/health.
func (s *Server) keboolaHealth() map[string]any {
	k := s.keboolaConnector()
	if k == nil {
		return nil
	}
	st := k.Status()
	out := map[string]any{"status": "ok", "connection": st.State, "detail": st.Message}
	switch st.State {
	case keboola.StateInvalidToken, keboola.StateUnreachable:
		out["status"] = "warning"
	case keboola.StateNotConfigured:
		if s.cfg.DataSource == keboola.Type {
			out["status"] = "warning"
		}
	}
	if st.Project != "" {
		out["project"] = st.Project
	}
	if !st.CheckedAt.IsZero() {
		out["checked_at"] = st.CheckedAt.Format(time.RFC3339)
	}
	if r := k.ExtensionUnavailable(); r != "" {
		out["remote_mode"] = r
	} else {
		out["remote_mode"] = "available"
	}
	if at := k.CachedAt(); !at.IsZero() {
		out["tables_listed_at"] = at.Format(time.RFC3339)
	}
	return out
}

// testKeboola answers POST /api/admin/keboola/test (admin): the token is verified now and
// the outcome returned (200 whatever it is; the state says how it went).
func (s *Server) testKeboola(c echo.Context) error {
	k := s.keboolaConnector()
	if k == nil {
		return apiError(http.StatusNotFound, "The Keboola connector is not built in")
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 30*time.Second)
	defer cancel()
	st := k.Check(ctx)
	if st.State == keboola.StateOK {
		// A working connection refreshes the table list in the background.
		go func() {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if _, err := k.Refresh(rctx); err != nil {
				s.log.Warn("keboola: listing the tables failed", "error", err)
			}
		}()
	}
	return c.JSON(http.StatusOK, st)
}
