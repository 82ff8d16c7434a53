package cli

import (
	"log/slog"

	"da/config"
	"da/engine/connectors/jira"
)

// openJira opens the Jira connector when its REST access is configured (nil otherwise).
func openJira(cfg *config.Config, log *slog.Logger) (*jira.Service, error) {
	if !cfg.JiraConfigured() {
		return nil, nil
	}
	return jira.NewService(jiraOptions(cfg), log)
}

func jiraOptions(cfg *config.Config) jira.Options {
	j := cfg.Jira
	return jira.Options{Dir: j.DataDir, Site: j.Domain, BaseURL: j.BaseURL, Email: j.Email, Token: j.APIToken,
		SLABaseURL: j.SLABaseURL, SLAEmail: j.SLAEmail, SLAToken: j.SLAAPIToken, Project: j.Project}
}
