package handlers

import (
	"github.com/labstack/echo/v4"

	"da/auth"
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
}

// routes is the single route table of the server.
func (s *Server) routes() []Route {
	jsonLimit := s.cfg.MaxJSONBodyBytes
	pub, viewer, analyst, kmAdmin, admin := auth.Role(""), auth.RoleViewer, auth.RoleAnalyst, auth.RoleKMAdmin, auth.RoleAdmin
	return []Route{
		// Health and probes.
		{Method: "GET", Path: "/api/health", Min: pub, Handler: s.showHealth},
		{Method: "GET", Path: "/readyz", Min: pub, Handler: s.showReadiness},

		// Token API (CLI and scripts).
		{Method: "POST", Path: "/auth/token", Min: pub, Handler: s.issueToken, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/auth/password/login", Min: pub, Handler: s.issueToken, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/auth/bootstrap", Min: pub, Handler: s.bootstrapAdmin, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/api/me", Min: viewer, Handler: s.showMe},

		// Users (admin).
		{Method: "GET", Path: "/api/users", Min: admin, Handler: s.listUsers},
		{Method: "POST", Path: "/api/users", Min: admin, Handler: s.createUser, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/api/users/:id", Min: admin, Handler: s.showUser},
		{Method: "PATCH", Path: "/api/users/:id", Min: admin, Handler: s.updateUser, BodyLimit: jsonLimit},
		{Method: "DELETE", Path: "/api/users/:id", Min: admin, Handler: s.deleteUser},

		// Password set-up with the one-time token from POST /api/users (public): JSON, and the
		// setup_url, which leads to the set-up page.
		{Method: "POST", Path: "/auth/password/setup", Min: pub, Handler: s.setupPassword, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/auth/password/setup", Min: pub, Handler: s.showPasswordSetupLink},

		// Table permissions (admin).
		{Method: "GET", Path: "/api/admin/permissions", Min: admin, Handler: s.listPermissions},
		{Method: "POST", Path: "/api/admin/permissions", Min: admin, Handler: s.grantPermission, BodyLimit: jsonLimit},
		{Method: "DELETE", Path: "/api/admin/permissions", Min: admin, Handler: s.revokePermission, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/api/admin/permissions/:user_id", Min: admin, Handler: s.listUserPermissions},

		// Access requests: anyone asks for a table, admins review.
		{Method: "POST", Path: "/api/access-requests", Min: viewer, Handler: s.createAccessRequest, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/api/access-requests/my", Min: viewer, Handler: s.listMyAccessRequests},
		{Method: "GET", Path: "/api/access-requests/pending", Min: admin, Handler: s.listPendingAccessRequests},
		{Method: "POST", Path: "/api/access-requests/:id/approve", Min: admin, Handler: s.approveAccessRequest, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/api/access-requests/:id/deny", Min: admin, Handler: s.denyAccessRequest, BodyLimit: jsonLimit},

		// Personal access tokens (own).
		{Method: "GET", Path: "/api/tokens", Min: viewer, Handler: s.listTokens},
		{Method: "POST", Path: "/api/tokens", Min: viewer, Handler: s.createToken, BodyLimit: jsonLimit},
		{Method: "DELETE", Path: "/api/tokens/:id", Min: viewer, Handler: s.revokeToken},

		// Audit log (admin).
		{Method: "GET", Path: "/api/audit", Min: admin, Handler: s.listAudit},

		// Browser sign-in.
		{Method: "GET", Path: "/", Min: pub, Handler: s.showHome},
		{Method: "GET", Path: "/login", Min: pub, Handler: s.showLogin},
		{Method: "POST", Path: "/login", Min: pub, Handler: s.submitLogin, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/logout", Min: pub, Handler: s.logout, BodyLimit: jsonLimit},

		// Sign-in providers: e-mailed sign-in links (form or JSON; send-link is the original's
		// path), password reset and invited-user set-up pages, Google OIDC.
		{Method: "POST", Path: "/auth/email/request", Min: pub, Handler: s.requestEmailLink, BodyLimit: jsonLimit},
		{Method: "POST", Path: "/auth/email/send-link", Min: pub, Handler: s.requestEmailLink, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/auth/email/verify", Min: pub, Handler: s.showEmailConfirm},
		{Method: "POST", Path: "/auth/email/verify", Min: pub, Handler: s.confirmEmailLink, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/password/forgot", Min: pub, Handler: s.showForgotPassword},
		{Method: "POST", Path: "/password/forgot", Min: pub, Handler: s.requestPasswordReset, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/password/reset", Min: pub, Handler: s.showPasswordReset},
		{Method: "POST", Path: "/password/reset", Min: pub, Handler: s.submitPasswordReset, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/password/setup", Min: pub, Handler: s.showPasswordSetup},
		{Method: "POST", Path: "/password/setup", Min: pub, Handler: s.submitPasswordSetup, BodyLimit: jsonLimit},
		{Method: "GET", Path: "/auth/google/login", Min: pub, Handler: s.startGoogleLogin},
		{Method: "GET", Path: "/auth/google/callback", Min: pub, Handler: s.finishGoogleLogin},

		// Pages.
		{Method: "GET", Path: "/dashboard", Min: viewer, Handler: s.showDashboard},
		{Method: "GET", Path: "/catalog", Min: viewer, Handler: s.comingSoon("catalog", "Data catalog", "Browse every table you may read, with column profiles, sample rows and downloads.")},
		{Method: "GET", Path: "/catalog/:table", Min: viewer, Handler: s.comingSoon("catalog", "Table details", "Column profiles drawn as charts, sample rows, downloads and the da command to pull this table.")},
		{Method: "GET", Path: "/query", Min: analyst, Handler: s.comingSoon("query", "Query console", "Run read-only SQL against the tables you may read, with history, saved queries and exports.")},
		{Method: "GET", Path: "/upload", Min: analyst, Handler: s.comingSoon("upload", "Upload data", "Drop a CSV, TSV, parquet or JSON lines file to publish it as a table.")},
		{Method: "GET", Path: "/corporate-memory", Min: viewer, Handler: s.comingSoon("memory", "Corporate memory", "Browse, search, contribute and vote on the team's shared knowledge.")},
		{Method: "GET", Path: "/corporate-memory/admin", Min: kmAdmin, Handler: s.comingSoon("memory-admin", "Memory admin", "Approve, reject, mandate and edit knowledge items, with a full audit trail.")},
		{Method: "GET", Path: "/access-requests", Min: viewer, Handler: s.comingSoon("access-requests", "Access requests", "Request access to private tables and follow your requests; admins review them here.")},
		{Method: "GET", Path: "/activity-center", Min: admin, Handler: s.comingSoon("activity", "Activity", "The audit log and sync history of the whole instance.")},
		{Method: "GET", Path: "/admin/tables", Min: admin, Handler: s.comingSoon("admin-tables", "Tables", "Discover, register and edit tables, make them public or private, and trigger syncs.")},
		{Method: "GET", Path: "/admin/users", Min: admin, Handler: s.comingSoon("admin-users", "Users", "Invite users, change roles and deactivate accounts.")},
		{Method: "GET", Path: "/admin/permissions", Min: admin, Handler: s.comingSoon("admin-permissions", "Permissions", "Grant and revoke table and bucket access per user.")},
		{Method: "GET", Path: "/settings", Min: viewer, Handler: s.comingSoon("settings", "Settings", "Dataset subscriptions, Telegram notifications and personal access tokens for the CLI.")},
	}
}
