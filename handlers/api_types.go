package handlers

import (
	"mime/multipart"

	"da/engine"
)

// The answers of the JSON API that handlers build as maps, declared as types for the API
// reference (openapi.go). Each scenario test checks the real answer against them, so a
// handler and its declaration cannot drift apart.

// healthService is one entry of GET /api/health's services; the details beyond status are
// shown to admins and to the HEALTH_TOKEN scraper only.
type healthService struct {
	Status string `json:"status" required:"true" example:"ok" description:"ok, warning or error"`
	Detail string `json:"detail,omitempty"`
	// data
	Tables        *int64   `json:"tables,omitempty"`
	TotalRows     *int64   `json:"total_rows,omitempty"`
	StaleTables   []string `json:"stale_tables,omitempty"`
	FailingTables []string `json:"failing_tables,omitempty"`
	// users
	Count *int64 `json:"count,omitempty"`
}

type healthResponse struct {
	Status        string                   `json:"status" required:"true" enum:"healthy,degraded,unhealthy" example:"healthy"`
	Timestamp     string                   `json:"timestamp" required:"true" example:"2026-01-02T03:04:05.000000+00:00"`
	Version       string                   `json:"version,omitempty"`
	UptimeSeconds int64                    `json:"uptime_seconds,omitempty"`
	Services      map[string]healthService `json:"services" required:"true"`
}

type readinessResponse struct {
	Status string `json:"status" required:"true" enum:"ready,unavailable"`
	Detail string `json:"detail,omitempty"`
}

type accessRequestCreated struct {
	ID      string `json:"id"`
	Status  string `json:"status" example:"pending"`
	TableID string `json:"table_id" example:"orders"`
}

type accessRequestList struct {
	Requests []accessRequestRow `json:"requests"`
}

type accessRequestPending struct {
	Requests []accessRequestRow `json:"requests"`
	Count    int                `json:"count"`
}

type accessRequestReviewed struct {
	Status  string `json:"status" example:"approved"`
	ID      string `json:"id"`
	TableID string `json:"table_id"`
	UserID  string `json:"user_id"`
}

type auditList struct {
	Entries []auditRow `json:"entries"`
	Total   int        `json:"total"`
	Limit   int        `json:"limit"`
	Offset  int        `json:"offset"`
}

type auditQuery struct {
	UserID   string `query:"user_id" description:"Only entries of this user."`
	Action   string `query:"action" description:"Only this action."`
	Resource string `query:"resource" description:"Only this resource."`
	Since    string `query:"since" description:"A date (2006-01-02) or an ISO 8601 timestamp."`
	Limit    int    `query:"limit" minimum:"1" description:"At most this many entries (larger values are clamped to 500)."`
	Offset   int    `query:"offset" minimum:"0"`
}

type linkSent struct {
	Message string `json:"message"`
}

type catalogList struct {
	Tables []catalogTableJSON `json:"tables"`
	Count  int                `json:"count"`
}

type catalogQuery struct {
	Include string `query:"include" enum:"locked" description:"locked also lists the tables the caller may not read, marked readable=false."`
}

// tableProfile is a stored column profile; its fields follow the profiler's document.
type tableProfile struct {
	ProfiledAt string `json:"profiled_at" example:"2026-01-02T03:04:05Z"`
}

type profileRefreshed struct {
	Status  string `json:"status" example:"ok"`
	Table   string `json:"table"`
	Columns int    `json:"columns"`
}

// metricDoc is a metric definition read from DATA_DIR/docs/metrics: its YAML as JSON.
type metricDoc struct{}

// JSONSchemaBytes says a metric document is any JSON value (an object or a list).
func (metricDoc) JSONSchemaBytes() ([]byte, error) {
	return []byte(`{"description": "The metric file's YAML document as JSON.", "type": ["object", "array"]}`), nil
}

type manifestResponse struct {
	Tables     map[string]manifestTable `json:"tables"`
	Assets     map[string]any           `json:"assets"`
	ServerTime string                   `json:"server_time" example:"2026-01-02T03:04:05.000000+00:00"`
}

type syncSettingsResponse struct {
	UserID          string            `json:"user_id"`
	Settings        []syncSettingJSON `json:"settings"`
	EnabledDatasets []string          `json:"enabled_datasets"`
}

// syncSettingsUpdated says per dataset what changed: {"enabled": bool} or {"error": "..."}.
type syncSettingsUpdated struct {
	Updated map[string]map[string]any `json:"updated"`
}

type tableSubscriptionsResponse struct {
	UserID        string            `json:"user_id"`
	Subscriptions []syncSettingJSON `json:"subscriptions"`
}

type tableSubscriptionsUpdated struct {
	TableMode string   `json:"table_mode"`
	Updated   int      `json:"updated"`
	Refused   []string `json:"refused"`
}

type userSettingsResponse struct {
	UserID       string            `json:"user_id"`
	SyncSettings []syncSettingJSON `json:"sync_settings"`
	Permissions  any               `json:"permissions"`
}

type datasetSettingResponse struct {
	Dataset string `json:"dataset"`
	Enabled bool   `json:"enabled"`
}

type memoryList struct {
	Items   []memoryItemJSON `json:"items"`
	Count   int              `json:"count"`
	Total   int              `json:"total"`
	Page    int              `json:"page"`
	PerPage int              `json:"per_page"`
}

type memoryQuery struct {
	Search       string `query:"search"`
	Category     string `query:"category"`
	StatusFilter string `query:"status_filter"`
	Sort         string `query:"sort"`
	Page         int    `query:"page" minimum:"1"`
	PerPage      int    `query:"per_page" minimum:"1" description:"Items per page; values above the maximum are clamped."`
}

type memoryPagingQuery struct {
	Page    int `query:"page" minimum:"1"`
	PerPage int `query:"per_page" minimum:"1" description:"Items per page; values above the maximum are clamped."`
}

type memoryAuditQuery struct {
	Action  string `query:"action"`
	ItemID  string `query:"item_id"`
	Page    int    `query:"page" minimum:"1"`
	PerPage int    `query:"per_page" minimum:"1" description:"Entries per page; values above 500 are clamped."`
}

type memoryStatsResponse struct {
	Total      int            `json:"total"`
	ByStatus   map[string]int `json:"by_status"`
	Categories []string       `json:"categories"`
}

// memoryVotes maps item ids to the caller's vote (1 or -1).
type memoryVotes map[string]int

type memoryCreated struct {
	ID     string `json:"id"`
	Status string `json:"status" example:"pending"`
}

type memoryVoteBody struct {
	Vote int `json:"vote" required:"true" enum:"1,-1"`
}

type memoryVoteResponse struct {
	Upvotes   int `json:"upvotes"`
	Downvotes int `json:"downvotes"`
	MyVote    int `json:"my_vote"`
}

type memoryStatusAnswer struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type memoryReasonRequest struct {
	ItemID   string  `json:"item_id" required:"true"`
	Reason   *string `json:"reason"`
	Audience *string `json:"audience"`
}

type memoryEditRequest struct {
	ItemID   string    `json:"item_id" required:"true"`
	Title    *string   `json:"title"`
	Content  *string   `json:"content"`
	Category *string   `json:"category"`
	Tags     *[]string `json:"tags"`
}

type idUpdated struct {
	ID      string   `json:"id"`
	Updated []string `json:"updated"`
}

type registryUpdated struct {
	ID      string `json:"id"`
	Updated any    `json:"updated"`
}

type memoryBatchResponse struct {
	Success  []string `json:"success"`
	NotFound []string `json:"not_found"`
	Refused  any      `json:"refused"`
}

type memoryAuditList struct {
	Entries []map[string]any `json:"entries"`
	Count   int              `json:"count"`
	Total   int              `json:"total"`
	Page    int              `json:"page"`
	PerPage int              `json:"per_page"`
}

type permissionRevoked struct {
	Revoked bool   `json:"revoked"`
	UserID  string `json:"user_id"`
	Dataset string `json:"dataset"`
}

type permissionList struct {
	Permissions []permissionRow `json:"permissions"`
}

type userPermissionList struct {
	UserID      string          `json:"user_id"`
	Permissions []permissionRow `json:"permissions"`
}

type cancelled struct {
	Cancelled bool `json:"cancelled"`
}

type limitQuery struct {
	Limit int `query:"limit" minimum:"1" description:"At most this many; larger values are clamped to the maximum."`
}

type registryList struct {
	Tables []registryRowJSON `json:"tables"`
	Count  int               `json:"count"`
}

type tableRegistered struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status" example:"registered"`
}

type discoveredList struct {
	Tables []discoveredJSON `json:"tables"`
	Count  int              `json:"count"`
	Total  int              `json:"total"`
	Source string           `json:"source"`
	Errors any              `json:"errors"`
}

type syncTriggered struct {
	Status  string `json:"status" example:"triggered"`
	JobID   string `json:"job_id"`
	Tables  any    `json:"tables" description:"\"all\", or the ids of the tables to sync"`
	Message string `json:"message"`
}

type syncJobList struct {
	Jobs []*engine.SyncJob `json:"jobs"`
}

type tokenList struct {
	Tokens []tokenRow `json:"tokens"`
}

// uploadTableRequest is the multipart form of POST /api/upload/table.
type uploadTableRequest struct {
	File        *multipart.FileHeader `formData:"file" required:"true" description:"CSV, TSV, parquet or JSON lines"`
	Name        string                `formData:"name" required:"true" pattern:"^[a-zA-Z_][a-zA-Z0-9_]{0,63}$" example:"orders"`
	Description string                `formData:"description"`
	Public      bool                  `formData:"public"`
}

type setupTokenQuery struct {
	Token string `query:"token" required:"true"`
}

type memoryItemQuery struct {
	ItemID string `query:"item_id" required:"true" description:"The knowledge item to act on."`
}

type passwordSetResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type" example:"bearer"`
	Message     string `json:"message"`
	UserID      string `json:"user_id"`
	Email       string `json:"email"`
	Role        string `json:"role"`
}

// JSONSchemaBytes documents the primary key of a register or edit request: a comma-separated
// string or a list of column names.
func (primaryKeyField) JSONSchemaBytes() ([]byte, error) {
	return []byte(`{"description": "Primary key columns: a comma-separated string or a list.",
		"oneOf": [{"type": "string", "examples": ["order_id"]}, {"type": "array", "items": {"type": "string"}}, {"type": "null"}]}`), nil
}
