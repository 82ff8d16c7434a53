package llm

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// Structured-output strategies of an OpenAI-compatible server, in the order they are tried.
const (
	strategyJSONSchema = "json_schema"
	strategyJSONObject = "json_object"
	strategyText       = "text"
)

var strategiesFor = map[string][]string{
	"strict": {strategyJSONSchema},
	"json":   {strategyJSONSchema, strategyJSONObject},
	"auto":   {strategyJSONSchema, strategyJSONObject, strategyText},
}

// textSuffix asks for JSON when the server has no structured output at all.
const textSuffix = "\n\nIMPORTANT: Respond with valid JSON only, no markdown."

// openAIProvider calls POST {base_url}/chat/completions.
type openAIProvider struct {
	client openai.Client
	model  string
	mode   string
	host   string
	o      Options
	// skip is how many strategies the server has refused: later calls start after them.
	skip atomic.Int32
}

func newOpenAI(key, baseURL, model, mode string, verifySSL bool, o Options) *openAIProvider {
	opts := []option.RequestOption{option.WithAPIKey(key), option.WithBaseURL(baseURL),
		option.WithMaxRetries(0), option.WithRequestTimeout(o.Timeout)}
	switch {
	case o.HTTPClient != nil:
		opts = append(opts, option.WithHTTPClient(o.HTTPClient))
	case !verifySSL:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // ai.verify_ssl: false, set by the operator
		opts = append(opts, option.WithHTTPClient(&http.Client{Transport: tr}))
	}
	return &openAIProvider{client: openai.NewClient(opts...), model: model, mode: mode, host: SafeHost(baseURL), o: o}
}

func (p *openAIProvider) Describe() string { return "openai_compat " + p.model + " at " + p.host }

// ExtractJSON tries each strategy of the mode in turn, moving on when the server says it does
// not support one; each strategy has the retry policy of its own.
func (p *openAIProvider) ExtractJSON(ctx context.Context, r Request) (json.RawMessage, Usage, error) {
	var total Usage
	strategies := strategiesFor[p.mode]
	for i := int(p.skip.Load()); i < len(strategies); i++ {
		s := strategies[i]
		out, u, err := retry(ctx, p.o, func() (json.RawMessage, Usage, error) { return p.once(ctx, r, s) })
		total.Add(u)
		if KindOf(err) == KindUnsupported {
			if int(p.skip.Load()) == i {
				p.skip.Store(int32(i + 1))
			}
			continue
		}
		return out, total, err
	}
	return nil, total, &Error{Kind: KindUnsupported,
		Msg: fmt.Sprintf("No supported structured output strategy for %s with configured mode '%s'", p.host, p.mode)}
}

func (p *openAIProvider) once(ctx context.Context, r Request, strategy string) (json.RawMessage, Usage, error) {
	prompt := r.Prompt
	params := openai.ChatCompletionNewParams{Model: p.model, MaxTokens: openai.Int(int64(r.MaxTokens))}
	switch strategy {
	case strategyJSONSchema:
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: r.SchemaName, Strict: openai.Bool(true), Schema: r.Schema}}}
	case strategyJSONObject:
		params.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	default:
		prompt += textSuffix
	}
	params.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}
	resp, err := p.client.Chat.Completions.New(ctx, params)
	if err != nil {
		var apiErr *openai.Error
		if errors.As(err, &apiErr) {
			var h http.Header
			if apiErr.Response != nil {
				h = apiErr.Response.Header
			}
			msg := apiErr.Message
			if apiErr.Param != "" {
				msg += " (param " + apiErr.Param + ")"
			}
			if msg == "" {
				msg = http.StatusText(apiErr.StatusCode)
			}
			return nil, Usage{}, classifyHTTP(apiErr.StatusCode, msg, h)
		}
		return nil, Usage{}, transportError(ctx, err)
	}
	u := Usage{Calls: 1, InputTokens: resp.Usage.PromptTokens, OutputTokens: resp.Usage.CompletionTokens}
	u.CostUSD = Cost(p.model, u.InputTokens, u.OutputTokens)
	if len(resp.Choices) == 0 {
		return nil, u, &Error{Kind: KindFormat, Msg: "the answer has no choices"}
	}
	ch := resp.Choices[0]
	switch {
	case ch.FinishReason == "length":
		return nil, u, &Error{Kind: KindFormat, Msg: "the answer was truncated (finish_reason length)"}
	case ch.Message.Refusal != "":
		return nil, u, &Error{Kind: KindRefusal, Msg: "the model refused to answer"}
	case strings.TrimSpace(ch.Message.Content) == "":
		return nil, u, &Error{Kind: KindRefusal, Msg: "the model refused to answer (empty answer)"}
	}
	if strategy == strategyText {
		if out, ok := extractJSON(ch.Message.Content); ok {
			return out, u, nil
		}
		return nil, u, &Error{Kind: KindFormat, Msg: "Could not extract valid JSON from the answer"}
	}
	out, err := parseObject(ch.Message.Content)
	if err != nil {
		return nil, u, &Error{Kind: KindFormat, Msg: "Failed to parse the answer as a JSON object: " + shorten(err.Error())}
	}
	return out, u, nil
}
