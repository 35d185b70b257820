package config

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTracingIsOffByDefault(t *testing.T) {
	t.Parallel()
	c, err := Parse(nil, "", noEnv)
	require.NoError(t, err)
	require.False(t, c.Tracing.Enabled())
	require.Equal(t, Tracing{Protocol: "grpc", SampleRatio: 1, ServiceName: "paystate"}, c.Tracing)
}

func TestTracingTargets(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		in   Tracing
		want OTLPTarget
	}{
		{"grpc host:port is TLS", Tracing{OTLPEndpoint: "collector:4317", Protocol: "grpc"}, OTLPTarget{HostPort: "collector:4317"}},
		{"grpc insecure", Tracing{OTLPEndpoint: "localhost:4317", Protocol: "grpc", Insecure: true}, OTLPTarget{HostPort: "localhost:4317", Insecure: true}},
		{"grpc http URL is plaintext", Tracing{OTLPEndpoint: "http://localhost", Protocol: "grpc"}, OTLPTarget{HostPort: "localhost:4317", Insecure: true}},
		{"grpc https URL", Tracing{OTLPEndpoint: "https://otel.example.com:443/", Protocol: "grpc"}, OTLPTarget{HostPort: "otel.example.com:443"}},
		{"http host:port", Tracing{OTLPEndpoint: "[::1]:4318", Protocol: "http", Insecure: true}, OTLPTarget{HostPort: "[::1]:4318", Path: "/v1/traces", Insecure: true}},
		{"http URL default path", Tracing{OTLPEndpoint: "http://localhost", Protocol: "http"}, OTLPTarget{HostPort: "localhost:4318", Path: "/v1/traces", Insecure: true}},
		{"http URL own path", Tracing{OTLPEndpoint: "https://otel.example.com/otlp/v1/traces", Protocol: "http"}, OTLPTarget{HostPort: "otel.example.com:4318", Path: "/otlp/v1/traces"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := tc.in.Target()
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// What config check refuses is what serve could not export to; each
// problem is pointed at its key.
func TestCheckTracingBlock(t *testing.T) {
	t.Parallel()
	const tokens = "api_tokens: [{name: a, role: admin, token: t}]\n"
	cases := []struct {
		name, file string
		env        map[string]string
		want       string // the one problem, rendered; empty: none
	}{
		{"valid", "tracing:\n  otlp_endpoint: localhost:4317\n  insecure: true\n  sample_ratio: 0.25\n", nil, ""},
		{"off with the other keys set", "tracing:\n  protocol: http\n  sample_ratio: 0\n", nil, ""},
		{"bad protocol", "tracing:\n  otlp_endpoint: localhost:4317\n  protocol: thrift\n", nil, `line 4: tracing.protocol: "thrift": want grpc or http`},
		{"ratio above 1", "tracing:\n  sample_ratio: 1.5\n", nil, "line 3: tracing.sample_ratio: must be between 0 and 1"},
		{"ratio below 0", "tracing:\n  sample_ratio: -0.1\n", nil, "line 3: tracing.sample_ratio: must be between 0 and 1"},
		{"no port", "tracing:\n  otlp_endpoint: localhost\n", nil, `line 3: tracing.otlp_endpoint: "localhost" is not host:port or an http(s):// URL, e.g. localhost:4317`},
		{"bad port", "tracing:\n  otlp_endpoint: localhost:99999\n", nil, `line 3: tracing.otlp_endpoint: "localhost:99999" has no usable port: "99999"`},
		{"bad scheme", "tracing:\n  otlp_endpoint: grpc://localhost:4317\n", nil, `line 3: tracing.otlp_endpoint: "grpc://localhost:4317": the scheme must be http or https`},
		{"grpc with a path", "tracing:\n  otlp_endpoint: http://localhost:4317/v1/traces\n", nil, "OTLP over gRPC takes no path"},
		{"credentials in the URL", "tracing:\n  otlp_endpoint: https://u:p@otel.example.com\n", nil, "no user, query or fragment"},
		{"insecure https", "tracing:\n  otlp_endpoint: https://otel.example.com\n  insecure: true\n", nil, "line 4: tracing.insecure: true contradicts"},
		{"from the environment", "", map[string]string{"PAYSTATE_TRACING_OTLP_ENDPOINT": "nope"}, `(not in the file): tracing.otlp_endpoint: "nope" is not host:port`},
		{"environment ratio", "", map[string]string{"PAYSTATE_TRACING_SAMPLE_RATIO": "lots"}, `(not in the file): PAYSTATE_TRACING_SAMPLE_RATIO: "lots" is not a number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, problems := Check([]byte(tokens+tc.file), func(k string) string { return tc.env[k] })
			if tc.want == "" {
				require.Empty(t, problems)
				return
			}
			require.Len(t, problems, 1, "%v", problems)
			require.Contains(t, problems[0].String(), tc.want)
		})
	}
}
