package config_test

import (
	"testing"

	"da/config"
)

// TestAIFromEnvironment: LLM_PROVIDER, LLM_MODEL and the provider's own key and base-URL
// variables configure the LLM, over instance.yaml.
func TestAIFromEnvironment(t *testing.T) {
	yaml := "ai:\n  provider: anthropic\n  api_key: file-key\n  model: file-model\n"
	c := mustLoad(t, withYAML(t, env{"ANTHROPIC_API_KEY": "env-key", "ANTHROPIC_BASE_URL": "http://127.0.0.1:9/", "LLM_MODEL": "claude-sonnet-4-5"}, yaml), config.Overrides{})
	if c.AI.Provider != "anthropic" || c.AI.APIKey != "env-key" || c.AI.BaseURL != "http://127.0.0.1:9/" || c.AI.Model != "claude-sonnet-4-5" {
		t.Fatalf("anthropic: %+v", c.AI)
	}
	c = mustLoad(t, env{"LLM_PROVIDER": "openai_compat", "OPENAI_API_KEY": "ok", "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
		"ANTHROPIC_API_KEY": "not-this"}, config.Overrides{})
	if c.AI.Provider != "openai_compat" || c.AI.APIKey != "ok" || c.AI.BaseURL != "http://127.0.0.1:9/v1" {
		t.Fatalf("openai: %+v", c.AI)
	}
	// A key alone means Anthropic; nothing at all means no LLM.
	if c := mustLoad(t, env{"ANTHROPIC_API_KEY": "k"}, config.Overrides{}); c.AI.Provider != "anthropic" {
		t.Fatalf("key alone: %+v", c.AI)
	}
	if c := mustLoad(t, env{}, config.Overrides{}); c.AI.Provider != "" || c.AI.APIKey != "" || c.CorporateMemory.BundleTokens != 6000 {
		t.Fatalf("none: %+v %d", c.AI, c.CorporateMemory.BundleTokens)
	}
	if ps := problems(t, env{"LLM_PROVIDER": "openai_compat", "OPENAI_API_KEY": "k"}, config.Overrides{}); len(ps) == 0 {
		t.Fatal("openai_compat without a base URL was accepted")
	}
}
