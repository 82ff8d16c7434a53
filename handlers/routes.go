package handlers

import (
	"da/engine/connectors/jira"
	"da/engine/connectors/keboola"
	"da/engine/openmetadata"
	"github.com/labstack/echo/v4"

	"da/auth"
	"da/engine"
)

// Route is one entry of the route table: every route the server answers, with the lowest
// role that may call it. Min "" means public. Paths under /api, /auth and /webhooks answer
// JSON; the others are pages.
type Route struct {
	Method    string
	Path      string
	Min       auth.Role
	Handler   echo.HandlerFunc
	BodyLimit int64 // bytes; 0 means no limit beyond the server's
	// StreamBody marks a route that takes a file: its body must keep up the minimum transfer
	// rate instead of arriving whole within the body deadline (deadlines.go).
	StreamBody bool
	// The API reference (openapi.go): Req is the JSON (or multipart) request body, Query a
	// struct of query parameters (`query` tags), Resp the answer with status Status (200 when
	// 0; noBody{} answers 204), Produces the media type of an answer that is not JSON. Every
	// JSON route must declare Resp or Produces. Summary defaults to the handler's name; Doc
	// is a longer description; Document adds a route outside /api, /auth and /webhooks.
	Req, Query, Resp any
	Status           int
	Produces         string
	Summary, Doc     string
	Document         bool
	// Scrape lets a caller presenting the configured metrics scrape token through, whatever
	// Min says (GET /metrics).
	Scrape bool
}

// routes is the single route table of the server.
func (s *Server) routes() []Route {
	jsonLimit := s.cfg.MaxJSONBodyBytes
	pub, viewer, analyst, kmAdmin, admin := auth.Role(""), auth.RoleViewer, auth.RoleAnalyst, auth.RoleKMAdmin, auth.RoleAdmin
	return []Route{
		// Health and probes.
		{Method: "GET", Path: "/api/health", Min: pub, Handler: s.showHealth, Resp: healthResponse{}},
		// API reference: the OpenAPI document of the JSON API and its readable page.
		{Method: "GET", Path: "/openapi.json", Min: pub, Handler: s.showOpenAPI},
		{Method: "GET", Path: "/docs", Min: pub, Handler: s.showAPIDocs},
		{Method: "GET", Path: "/readyz", Min: pub, Handler: s.showReadiness, Resp: readinessResponse{}, Document: true},
		{Method: "GET", Path: "/metrics", Min: admin, Handler: s.showMetrics, Scrape: true, Produces: "text/plain", Document: true},

		// Jira webhooks (signed; the original's path and the documented one).
		{Method: "POST", Path: "/webhooks/jira", Min: pub, Handler: s.receiveJiraWebhook, BodyLimit: jiraWebhookMaxBytes + 1, Req: jiraWebhookEvent{}, Resp: jiraWebhookAccepted{},
			Doc: "Jira Cloud's issue events, signed with HMAC-SHA256 of the body in X-Hub-Signature-256 (or X-Hub-Signature); stored durably before the answer and applied in the background."},
		{Method: "POST", Path: "/api/jira/webhook", Min: pub, Handler: s.receiveJiraWebhook, BodyLimit: jiraWebhookMaxBytes + 1, Req: jiraWebhookEvent{}, Resp: jiraWebhookAccepted{},
			Doc: "The same as POST /webhooks/jira, under the original's name."},
		{Method: "GET", Path: "/webhooks/jira/health", Min: pub, Handler: s.showJiraWebhookHealth, Resp: jiraWebhookHealth{}},
		{Method: "GET", Path: "/api/admin/jira", Min: admin, Handler: s.showJiraStatus, Resp: map[string]any{}},
		{Method: "POST", Path: "/api/admin/jira/backfill", Min: admin, Handler: s.startJiraBackfill, BodyLimit: jsonLimit, Req: jiraBackfillBody{}, Resp: jira.BackfillStatus{}, Status: 202},
		{Method: "GET", Path: "/api/admin/jira/backfill", Min: admin, Handler: s.showJiraBackfill, Resp: jira.BackfillStatus{}},
		{Method: "GET", Path: "/admin/jira", Min: admin, Handler: s.showJiraPanel},
		{Method: "POST", Path: "/admin/jira/backfill", Min: admin, Handler: s.startJiraBackfillPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/jira/consistency", Min: admin, Handler: s.runJiraConsistencyPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/jira/sla-poll", Min: admin, Handler: s.runJiraSLAPollPage, BodyLimit: jsonLimit},

		// Token API (CLI and scripts).
		{Method: "POST", Path: "/auth/token", Min: pub, Handler: s.issueToken, BodyLimit: jsonLimit, Req: credentials{}, Resp: tokenResponse{}},
		{Method: "POST", Path: "/auth/password/login", Min: pub, Handler: s.issueToken, BodyLimit: jsonLimit, Req: credentials{}, Resp: tokenResponse{}},
		{Method: "POST", Path: "/auth/bootstrap", Min: pub, Handler: s.bootstrapAdmin, BodyLimit: jsonLimit, Req: bootstrapRequest{}, Resp: tokenResponse{}},
		{Method: "GET", Path: "/api/me", Min: viewer, Handler: s.showMe, Resp: meResponse{}},

		// Users (admin).
		{Method: "GET", Path: "/api/users", Min: admin, Handler: s.listUsers, Resp: []userRow{}},
		{Method: "POST", Path: "/api/users", Min: admin, Handler: s.createUser, BodyLimit: jsonLimit, Req: createUserRequest{}, Resp: createdUser{}, Status: 201},
		{Method: "GET", Path: "/api/users/:id", Min: admin, Handler: s.showUser, Resp: userDetail{}},
		{Method: "PATCH", Path: "/api/users/:id", Min: admin, Handler: s.updateUser, BodyLimit: jsonLimit, Req: updateUserRequest{}, Resp: userDetail{}},
		{Method: "DELETE", Path: "/api/users/:id", Min: admin, Handler: s.deleteUser, Resp: noBody{}},

		// Password set-up with the one-time token from POST /api/users (public): JSON, and the
		// setup_url, which leads to the set-up page.
		{Method: "POST", Path: "/auth/password/setup", Min: pub, Handler: s.setupPassword, BodyLimit: jsonLimit, Req: setupPasswordRequest{}, Resp: passwordSetResponse{}},
		{Method: "GET", Path: "/auth/password/setup", Min: pub, Handler: s.showPasswordSetupLink, Query: setupTokenQuery{}, Produces: "text/html", Status: 303},

		// Table permissions (admin).
		{Method: "GET", Path: "/api/admin/permissions", Min: admin, Handler: s.listPermissions, Resp: permissionList{}},
		{Method: "POST", Path: "/api/admin/permissions", Min: admin, Handler: s.grantPermission, BodyLimit: jsonLimit, Req: permissionRequest{}, Resp: permissionRow{}, Status: 201},
		{Method: "DELETE", Path: "/api/admin/permissions", Min: admin, Handler: s.revokePermission, BodyLimit: jsonLimit, Req: permissionRequest{}, Resp: permissionRevoked{}},
		{Method: "GET", Path: "/api/admin/permissions/:user_id", Min: admin, Handler: s.listUserPermissions, Resp: userPermissionList{}},

		// Access requests: anyone asks for a table, admins review.
		{Method: "POST", Path: "/api/access-requests", Min: viewer, Handler: s.createAccessRequest, BodyLimit: jsonLimit, Req: accessRequestBody{}, Resp: accessRequestCreated{}, Status: 201},
		{Method: "GET", Path: "/api/access-requests/my", Min: viewer, Handler: s.listMyAccessRequests, Resp: accessRequestList{}},
		{Method: "GET", Path: "/api/access-requests/pending", Min: admin, Handler: s.listPendingAccessRequests, Resp: accessRequestPending{}},
		{Method: "POST", Path: "/api/access-requests/:id/approve", Min: admin, Handler: s.approveAccessRequest, BodyLimit: jsonLimit, Resp: accessRequestReviewed{}},
		{Method: "POST", Path: "/api/access-requests/:id/deny", Min: admin, Handler: s.denyAccessRequest, BodyLimit: jsonLimit, Resp: accessRequestReviewed{}},

		// Corporate memory: everyone reads, analysts contribute and vote, km_admins govern.
		{Method: "GET", Path: "/api/memory", Min: viewer, Handler: s.listMemory, Query: memoryQuery{}, Resp: memoryList{}},
		{Method: "GET", Path: "/api/memory/stats", Min: viewer, Handler: s.memoryStats, Query: memoryQuery{}, Resp: memoryStatsResponse{}},
		{Method: "GET", Path: "/api/memory/my-votes", Min: viewer, Handler: s.myMemoryVotes, Resp: memoryVotes{}},
		{Method: "POST", Path: "/api/memory", Min: analyst, Handler: s.createMemory, BodyLimit: jsonLimit, Req: memoryItemBody{}, Resp: memoryCreated{}, Status: 201},
		{Method: "GET", Path: "/api/memory/:item_id", Min: viewer, Handler: s.showMemory, Resp: memoryItemJSON{}},
		{Method: "POST", Path: "/api/memory/:item_id/vote", Min: analyst, Handler: s.voteMemory, BodyLimit: jsonLimit, Req: memoryVoteBody{}, Resp: memoryVoteResponse{}},
		{Method: "DELETE", Path: "/api/memory/:item_id/vote", Min: analyst, Handler: s.unvoteMemory, Resp: memoryVoteResponse{}},
		{Method: "POST", Path: "/api/memory/admin/approve", Min: kmAdmin, Handler: s.memoryGovern("approve"), BodyLimit: jsonLimit, Summary: "Approve memory item", Query: memoryItemQuery{}, Req: memoryReasonBody{}, Resp: memoryStatusAnswer{}},
		{Method: "POST", Path: "/api/memory/admin/reject", Min: kmAdmin, Handler: s.memoryGovern("reject"), BodyLimit: jsonLimit, Summary: "Reject memory item", Query: memoryItemQuery{}, Req: memoryReasonBody{}, Resp: memoryStatusAnswer{}},
		{Method: "POST", Path: "/api/memory/admin/mandate", Min: kmAdmin, Handler: s.memoryGovern("mandate"), BodyLimit: jsonLimit, Summary: "Mandate memory item", Query: memoryItemQuery{}, Req: memoryReasonBody{}, Resp: memoryStatusAnswer{}},
		{Method: "POST", Path: "/api/memory/admin/revoke", Min: kmAdmin, Handler: s.memoryGovern("revoke"), BodyLimit: jsonLimit, Summary: "Revoke memory item", Query: memoryItemQuery{}, Req: memoryReasonBody{}, Resp: memoryStatusAnswer{}},
		{Method: "POST", Path: "/api/memory/admin/edit", Min: kmAdmin, Handler: s.editMemory, BodyLimit: jsonLimit, Query: memoryItemQuery{}, Req: memoryItemBody{}, Resp: idUpdated{}},
		{Method: "POST", Path: "/api/memory/admin/batch", Min: kmAdmin, Handler: s.batchMemory, BodyLimit: jsonLimit, Req: memoryBatchBody{}, Resp: memoryBatchResponse{}},
		{Method: "GET", Path: "/api/memory/admin/pending", Min: kmAdmin, Handler: s.pendingMemory, Query: memoryPagingQuery{}, Resp: memoryList{}},
		{Method: "GET", Path: "/api/memory/admin/audit", Min: kmAdmin, Handler: s.memoryAudit, Query: memoryAuditQuery{}, Resp: memoryAuditList{}},
		// Knowledge collection from notes and transcripts, consent, and the agents' bundle.
		{Method: "POST", Path: "/api/memory/admin/collect", Min: kmAdmin, Handler: s.startCollect, BodyLimit: jsonLimit, Resp: collectStarted{}, Status: 202,
			Doc: "Takes no body: starts a collection run (or answers the one already running)."},
		{Method: "GET", Path: "/api/memory/admin/collect", Min: kmAdmin, Handler: s.listCollect, Resp: map[string]any{}},
		{Method: "GET", Path: "/api/memory/admin/collect/:job_id", Min: kmAdmin, Handler: s.showCollect, Resp: collectRunOut{}},
		{Method: "GET", Path: "/api/memory/admin/consent", Min: kmAdmin, Handler: s.allConsent, Resp: consentList{}},
		{Method: "GET", Path: "/api/memory/admin/provenance/:item_id", Min: kmAdmin, Handler: s.itemProvenance, Resp: map[string]any{}},
		{Method: "GET", Path: "/api/memory/consent", Min: viewer, Handler: s.myConsent, Resp: consentOut{}},
		{Method: "PUT", Path: "/api/memory/consent", Min: viewer, Handler: s.setConsent, BodyLimit: jsonLimit, Req: consentBody{}, Resp: consentOut{}},
		{Method: "GET", Path: "/api/memory/bundle", Min: viewer, Handler: s.memoryBundle, Produces: "text/markdown",
			Doc: "The approved and mandatory items for the caller's audience as one markdown file; ?format=json gives {markdown, items, omitted, ...}."},

		// Personal access tokens (own).
		{Method: "GET", Path: "/api/tokens", Min: viewer, Handler: s.listTokens, Resp: tokenList{}},
		{Method: "POST", Path: "/api/tokens", Min: viewer, Handler: s.createToken, BodyLimit: jsonLimit, Req: createTokenRequest{}, Resp: createdToken{}, Status: 201},
		{Method: "DELETE", Path: "/api/tokens/:id", Min: viewer, Handler: s.revokeToken, Resp: noBody{}},

		// Audit log (admin).
		{Method: "GET", Path: "/api/audit", Min: admin, Handler: s.listAudit, Query: auditQuery{}, Resp: auditList{}},

		// Query: the JSON API (sandboxed SQL, cancel, export, history, saved queries, admin
		// view of running queries) and the console page with its htmx fragments.
		{Method: "POST", Path: "/api/query", Min: analyst, Handler: s.runQuery, BodyLimit: jsonLimit, Req: queryBody{}, Resp: queryResponse{}},
		{Method: "POST", Path: "/api/query/export", Min: analyst, Handler: s.exportQuery, BodyLimit: jsonLimit, Req: exportBody{}, Produces: "application/octet-stream", Doc: "Streams the whole result as CSV (text/csv), parquet or JSON, by format."},
		{Method: "POST", Path: "/api/query/:id/cancel", Min: analyst, Handler: s.cancelQuery, BodyLimit: jsonLimit, Resp: cancelled{}},
		{Method: "GET", Path: "/api/query/history", Min: analyst, Handler: s.listQueryHistory, Query: limitQuery{}, Resp: []historyJSON{}},
		{Method: "GET", Path: "/api/queries/saved", Min: analyst, Handler: s.listSavedQueries, Resp: []savedQueryJSON{}},
		{Method: "POST", Path: "/api/queries/saved", Min: analyst, Handler: s.createSavedQuery, BodyLimit: jsonLimit, Req: savedBody{}, Resp: savedQueryJSON{}, Status: 201},
		{Method: "PUT", Path: "/api/queries/saved/:id", Min: analyst, Handler: s.updateSavedQuery, BodyLimit: jsonLimit, Req: savedBody{}, Resp: savedQueryJSON{}},
		{Method: "DELETE", Path: "/api/queries/saved/:id", Min: analyst, Handler: s.deleteSavedQuery, Resp: noBody{}},
		{Method: "GET", Path: "/api/admin/queries", Min: admin, Handler: s.listRunningQueries, Resp: []runningQueryJSON{}},
		{Method: "POST", Path: "/api/admin/queries/:id/cancel", Min: admin, Handler: s.killQuery, BodyLimit: jsonLimit, Resp: cancelled{}},
		{Method: "GET", Path: "/api/admin/replicas", Min: admin, Handler: s.listReplicas, Resp: replicaList{}},
		{Method: "GET", Path: "/query", Min: analyst, Handler: s.showQueryConsole},
		{Method: "POST", Path: "/query/run", Min: analyst, Handler: s.runQueryPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/query/chart", Min: analyst, Handler: s.renderQueryChart, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/query/saved", Min: analyst, Handler: s.createSavedQueryPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/query/saved/:id", Min: analyst, Handler: s.updateSavedQueryPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/query/saved/:id/delete", Min: analyst, Handler: s.deleteSavedQueryPage, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/query/running", Min: admin, Handler: s.showRunningQueries},
		{Method: "POST", Path: "/query/running/:id/cancel", Min: admin, Handler: s.killRunningQuery, BodyLimit: jsonLimit},

		// Catalog and distribution: the catalog API and pages, the sync manifest, parquet
		// downloads (analyst: viewers may not download) and the caller's subscriptions.
		{Method: "GET", Path: "/api/catalog/tables", Min: viewer, Handler: s.listCatalogTables, Query: catalogQuery{}, Resp: catalogList{}},
		{Method: "GET", Path: "/api/catalog/profile/:table", Min: viewer, Handler: s.showTableProfile, Resp: tableProfile{}},
		{Method: "POST", Path: "/api/catalog/profile/:table/refresh", Min: viewer, Handler: s.refreshTableProfile, BodyLimit: jsonLimit, Resp: profileRefreshed{}},
		{Method: "GET", Path: "/api/catalog/metrics/*", Min: viewer, Handler: s.showMetric, Resp: metricDoc{}},
		{Method: "GET", Path: "/api/sync/manifest", Min: viewer, Handler: s.showManifest, Resp: manifestResponse{}},
		{Method: "GET", Path: "/api/data/:table_id/download", Min: analyst, Handler: s.downloadTable, Produces: "application/vnd.apache.parquet"},
		{Method: "GET", Path: "/api/sync/settings", Min: viewer, Handler: s.showSyncSettings, Resp: syncSettingsResponse{}},
		{Method: "POST", Path: "/api/sync/settings", Min: viewer, Handler: s.updateSyncSettings, BodyLimit: jsonLimit, Req: syncSettingsBody{}, Resp: syncSettingsUpdated{}},
		{Method: "GET", Path: "/api/sync/table-subscriptions", Min: viewer, Handler: s.showTableSubscriptions, Resp: tableSubscriptionsResponse{}},
		{Method: "POST", Path: "/api/sync/table-subscriptions", Min: viewer, Handler: s.updateTableSubscriptions, BodyLimit: jsonLimit, Req: tableSubscriptionsBody{}, Resp: tableSubscriptionsUpdated{}},
		{Method: "GET", Path: "/api/settings", Min: viewer, Handler: s.showUserSettings, Resp: userSettingsResponse{}},
		{Method: "PUT", Path: "/api/settings/dataset", Min: viewer, Handler: s.updateDatasetSetting, BodyLimit: jsonLimit, Req: datasetSettingBody{}, Resp: datasetSettingResponse{}},
		{Method: "GET", Path: "/catalog", Min: viewer, Handler: s.showCatalog},
		{Method: "GET", Path: "/catalog/:table", Min: viewer, Handler: s.showCatalogTable},
		{Method: "GET", Path: "/catalog/:table/sample", Min: viewer, Handler: s.showCatalogSample},
		{Method: "GET", Path: "/catalog/:table/profile", Min: viewer, Handler: s.showCatalogProfile},
		{Method: "POST", Path: "/catalog/:table/refresh", Min: viewer, Handler: s.refreshCatalogProfile, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/settings/subscriptions", Min: viewer, Handler: s.showSubscriptions},
		{Method: "POST", Path: "/settings/subscriptions", Min: viewer, Handler: s.toggleSubscription, BodyLimit: jsonLimit},

		// Table registry and sync (admin): discover, register, edit, delete (cascading to grants,
		// subscriptions and profiles), background sync jobs with per-table progress; the admin
		// tables page and its forms and htmx fragments (registry.go, sync.go, admin_tables_page.go).
		{Method: "GET", Path: "/api/admin/discover-tables", Min: admin, Handler: s.discoverTables, Resp: discoveredList{}},
		{Method: "POST", Path: "/api/admin/keboola/test", Min: admin, Handler: s.testKeboola, BodyLimit: jsonLimit, Resp: keboola.Status{},
			Doc: "Takes no body: verifies the configured Storage API token now and answers the connection state."},
		{Method: "GET", Path: "/api/admin/registry", Min: admin, Handler: s.listRegistry, Resp: registryList{}},
		{Method: "POST", Path: "/api/admin/register-table", Min: admin, Handler: s.registerTable, BodyLimit: jsonLimit, Req: tableInput{}, Resp: tableRegistered{}, Status: 201},
		{Method: "PUT", Path: "/api/admin/registry/:id", Min: admin, Handler: s.updateRegistryTable, BodyLimit: jsonLimit, Req: tableInput{}, Resp: registryUpdated{}},
		{Method: "DELETE", Path: "/api/admin/registry/:id", Min: admin, Handler: s.deleteRegistryTable, Resp: noBody{}},
		{Method: "POST", Path: "/api/sync/trigger", Min: admin, Handler: s.triggerSync, BodyLimit: jsonLimit, Req: syncTriggerBody{}, Resp: syncTriggered{}},
		{Method: "GET", Path: "/api/sync/jobs", Min: admin, Handler: s.listSyncJobs, Resp: syncJobList{}},
		{Method: "GET", Path: "/api/sync/jobs/:id", Min: admin, Handler: s.showSyncJob, Resp: engine.SyncJob{}},
		{Method: "GET", Path: "/admin/tables/discover", Min: admin, Handler: s.showDiscovered},
		{Method: "POST", Path: "/admin/tables/keboola/test", Min: admin, Handler: s.testKeboolaPage, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/admin/tables/keboola/browse", Min: admin, Handler: s.showKeboolaBrowser},
		{Method: "POST", Path: "/admin/tables/keboola/register", Min: admin, Handler: s.registerKeboolaPage, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/admin/tables/jobs/:id", Min: admin, Handler: s.showSyncJobFragment},
		{Method: "POST", Path: "/admin/tables/register", Min: admin, Handler: s.submitRegisterTable, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/tables/sync", Min: admin, Handler: s.syncAllPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/tables/:id", Min: admin, Handler: s.submitEditTable, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/tables/:id/delete", Min: admin, Handler: s.deleteTablePage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/tables/:id/sync", Min: admin, Handler: s.syncTablePage, BodyLimit: jsonLimit},

		// Operations (admin): a backup archive of the data directory (backup.go); OpenMetadata
		// enrichment on demand and the catalog export to DATA_DIR/docs (openmetadata.go).
		{Method: "POST", Path: "/api/admin/backup", Min: admin, Handler: s.createBackup, BodyLimit: jsonLimit, Produces: "application/gzip",
			Doc: "Takes no body: streams a tar.gz archive of the data directory whose first entry, manifest.json, lists every file with its SHA-256."},
		{Method: "POST", Path: "/api/admin/openmetadata/refresh", Min: admin, Handler: s.refreshOpenMetadata, BodyLimit: jsonLimit,
			Req: openMetadataRefreshBody{}, Resp: openMetadataRefreshed{}},
		{Method: "POST", Path: "/api/admin/catalog-export", Min: admin, Handler: s.exportCatalog, BodyLimit: jsonLimit, Resp: openmetadata.ExportResult{},
			Doc: "Takes no body: writes OpenMetadata's metrics and the registered tables to DATA_DIR/docs, replacing generated files only."},
		{Method: "POST", Path: "/catalog/:table/openmetadata", Min: admin, Handler: s.refreshOpenMetadataPage, BodyLimit: jsonLimit},

		// Browser sign-in.
		{Method: "GET", Path: "/", Min: pub, Handler: s.showHome},
		{Method: "GET", Path: "/login", Min: pub, Handler: s.showLogin},
		{Method: "POST", Path: "/login", Min: pub, Handler: s.submitLogin, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/logout", Min: pub, Handler: s.logout, BodyLimit: jsonLimit},

		// Sign-in providers: e-mailed sign-in links (form or JSON; send-link is the original's
		// path), password reset and invited-user set-up pages, Google OIDC.
		{Method: "POST", Path: "/auth/email/request", Min: pub, Handler: s.requestEmailLink, BodyLimit: jsonLimit, Req: linkRequest{}, Resp: linkSent{}},
		{Method: "POST", Path: "/auth/email/send-link", Min: pub, Handler: s.requestEmailLink, BodyLimit: jsonLimit, Req: linkRequest{}, Resp: linkSent{}},
		{Method: "GET", Path: "/auth/email/verify", Min: pub, Handler: s.showEmailConfirm, Produces: "text/html"},
		{Method: "POST", Path: "/auth/email/verify", Min: pub, Handler: s.confirmEmailLink, BodyLimit: jsonLimit, Req: verifyRequest{}, Resp: tokenResponse{}},
		{Method: "GET", Path: "/password/forgot", Min: pub, Handler: s.showForgotPassword},
		{Method: "POST", Path: "/password/forgot", Min: pub, Handler: s.requestPasswordReset, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/password/reset", Min: pub, Handler: s.showPasswordReset},
		{Method: "POST", Path: "/password/reset", Min: pub, Handler: s.submitPasswordReset, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/password/setup", Min: pub, Handler: s.showPasswordSetup},
		{Method: "POST", Path: "/password/setup", Min: pub, Handler: s.submitPasswordSetup, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/auth/google/login", Min: pub, Handler: s.startGoogleLogin, Produces: "text/html", Status: 303},
		{Method: "GET", Path: "/auth/google/callback", Min: pub, Handler: s.finishGoogleLogin, Produces: "text/html", Status: 303},

		// Pages.
		{Method: "GET", Path: "/dashboard", Min: viewer, Handler: s.showDashboard},
		{Method: "GET", Path: "/upload", Min: analyst, Handler: s.showUpload},
		{Method: "POST", Path: "/upload", Min: analyst, Handler: s.submitUpload, StreamBody: true},

		// Uploads: a file becomes a table (size capped while streaming, not by BodyLimit).
		{Method: "POST", Path: "/api/upload/table", Min: analyst, Handler: s.uploadTable, StreamBody: true, Req: uploadTableRequest{}, Resp: uploadTableResponse{}, Status: 201},
		// Agent uploads: transcripts, artifacts (50 MiB, capped while streaming) and CLAUDE.local.md.
		{Method: "POST", Path: "/api/upload/sessions", Min: analyst, Handler: s.uploadSession, StreamBody: true, Req: agentFileUpload{}, Resp: uploadedFile{}},
		{Method: "POST", Path: "/api/upload/artifacts", Min: analyst, Handler: s.uploadArtifact, StreamBody: true, Req: agentFileUpload{}, Resp: uploadedFile{}},
		{Method: "POST", Path: "/api/upload/local-md", Min: analyst, Handler: s.uploadLocalMD, BodyLimit: localMDMax*4 + 4096, Req: localMDRequest{}, Resp: localMDUploaded{}},
		{Method: "GET", Path: "/corporate-memory", Min: viewer, Handler: s.memoryPage},
		{Method: "POST", Path: "/corporate-memory", Min: analyst, Handler: s.memoryContribute, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/corporate-memory/:item_id/vote", Min: analyst, Handler: s.memoryVoteForm, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/corporate-memory/admin", Min: kmAdmin, Handler: s.memoryAdminPage},
		{Method: "POST", Path: "/corporate-memory/admin/batch", Min: kmAdmin, Handler: s.memoryAdminBatch, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/corporate-memory/admin/collect", Min: kmAdmin, Handler: s.memoryCollectForm, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/corporate-memory/admin/:item_id/edit", Min: kmAdmin, Handler: s.memoryAdminEdit, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/corporate-memory/admin/:item_id/:action", Min: kmAdmin, Handler: s.memoryAdminAction, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/access-requests", Min: viewer, Handler: s.showAccessRequests},
		{Method: "GET", Path: "/access-requests/new", Min: viewer, Handler: s.showRequestDialog},
		{Method: "GET", Path: "/activity-center", Min: viewer, Handler: s.showActivity},
		{Method: "GET", Path: "/activity-center/export.csv", Min: viewer, Handler: s.exportActivity},
		{Method: "GET", Path: "/admin/tables", Min: admin, Handler: s.showAdminTables},
		{Method: "GET", Path: "/admin/users", Min: admin, Handler: s.showAdminUsers},
		{Method: "GET", Path: "/admin/permissions", Min: admin, Handler: s.showPermissions},
		{Method: "GET", Path: "/admin/replicas", Min: admin, Handler: s.showAdminReplicas},
		{Method: "GET", Path: "/settings", Min: viewer, Handler: s.showSettings},

		// Governance page actions (forms and htmx; CSRF-checked, audited).
		{Method: "POST", Path: "/admin/users", Min: admin, Handler: s.inviteUser, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/users/:id/role", Min: admin, Handler: s.changeUserRole, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/users/:id/active", Min: admin, Handler: s.setUserActive, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/users/:id/delete", Min: admin, Handler: s.deleteUserPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/permissions/grant", Min: admin, Handler: s.grantPermissionPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/permissions/revoke", Min: admin, Handler: s.revokePermissionPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/admin/permissions/public", Min: admin, Handler: s.setTablePublicPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/access-requests", Min: viewer, Handler: s.submitAccessRequest, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/access-requests/:id/approve", Min: admin, Handler: s.approveAccessRequestPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/access-requests/:id/deny", Min: admin, Handler: s.denyAccessRequestPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/settings/profile", Min: viewer, Handler: s.updateProfile, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/settings/password", Min: viewer, Handler: s.changePassword, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/settings/consent", Min: viewer, Handler: s.updateConsent, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/settings/tokens", Min: viewer, Handler: s.createTokenPage, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/settings/tokens/:id/revoke", Min: viewer, Handler: s.revokeTokenPage, BodyLimit: jsonLimit},
	}
}
