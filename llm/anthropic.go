package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/option"
)

// anthropicProvider calls the Anthropic Messages API with a JSON-schema output format.
type anthropicProvider struct {
	client anthropic.Client
	model  string
	host   string
	o      Options
}

func newAnthropic(key, baseURL, model string, o Options) *anthropicProvider {
	opts := []option.RequestOption{option.WithoutEnvironmentDefaults(), option.WithAPIKey(key),
		option.WithMaxRetries(0), option.WithRequestTimeout(o.Timeout)}
	if baseURL != "" {
		opts = append(opts, option.WithBaseURL(baseURL))
	}
	if o.HTTPClient != nil {
		opts = append(opts, option.WithHTTPClient(o.HTTPClient))
	}
	host := SafeHost(baseURL)
	if baseURL == "" {
		host = "https://api.anthropic.com"
	}
	return &anthropicProvider{client: anthropic.NewClient(opts...), model: model, host: host, o: o}
}

func (p *anthropicProvider) Describe() string { return "anthropic " + p.model + " at " + p.host }

func (p *anthropicProvider) ExtractJSON(ctx context.Context, r Request) (json.RawMessage, Usage, error) {
	return retry(ctx, p.o, func() (json.RawMessage, Usage, error) { return p.once(ctx, r) })
}

func (p *anthropicProvider) once(ctx context.Context, r Request) (json.RawMessage, Usage, error) {
	params := anthropic.MessageNewParams{
		Model:     p.model,
		MaxTokens: int64(r.MaxTokens),
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(r.Prompt))},
		OutputConfig: anthropic.OutputConfigParam{
			Format: anthropic.JSONOutputFormatParam{Schema: r.Schema},
		},
	}
	msg, err := p.client.Messages.New(ctx, params)
	if err != nil {
		var apiErr *anthropic.Error
		if errors.As(err, &apiErr) {
			var h http.Header
			if apiErr.Response != nil {
				h = apiErr.Response.Header
			}
			return nil, Usage{}, classifyHTTP(apiErr.StatusCode, anthropicMessage(apiErr), h)
		}
		return nil, Usage{}, transportError(ctx, err)
	}
	u := Usage{Calls: 1, InputTokens: msg.Usage.InputTokens, OutputTokens: msg.Usage.OutputTokens}
	u.CostUSD = Cost(p.model, u.InputTokens, u.OutputTokens)
	var text strings.Builder
	for _, b := range msg.Content {
		if b.Type == "text" {
			text.WriteString(b.Text)
		}
	}
	switch {
	case msg.StopReason == anthropic.StopReasonMaxTokens:
		return nil, u, &Error{Kind: KindFormat, Msg: "the answer was truncated at max_tokens"}
	case msg.StopReason == anthropic.StopReasonRefusal:
		return nil, u, &Error{Kind: KindRefusal, Msg: "the model refused to answer"}
	case strings.TrimSpace(text.String()) == "":
		return nil, u, &Error{Kind: KindRefusal, Msg: "the model refused to answer (empty answer)"}
	}
	out, err := parseObject(text.String())
	if err != nil {
		return nil, u, &Error{Kind: KindFormat, Msg: "Failed to parse the answer as a JSON object: " + shorten(err.Error())}
	}
	return out, u, nil
}

// anthropicMessage is error.message of the answer's body, else its status text.
func anthropicMessage(e *anthropic.Error) string {
	if e.Message != "" {
		return e.Message
	}
	return http.StatusText(e.StatusCode)
}
