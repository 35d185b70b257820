package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// Tracing configures OpenTelemetry tracing: spans are exported over OTLP to
// OTLPEndpoint. Tracing is off (no spans, no exporter, no per-request
// cost) while OTLPEndpoint is empty.
type Tracing struct {
	// OTLPEndpoint is the collector: host:port (TLS unless Insecure), or
	// an http:// (plaintext) or https:// URL. Empty: tracing off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Protocol is grpc (OTLP/gRPC, default port 4317) or http
	// (OTLP/HTTP protobuf, default port 4318, path /v1/traces).
	Protocol string `yaml:"protocol"`
	// Insecure sends spans in plaintext to a host:port endpoint.
	Insecure bool `yaml:"insecure"`
	// SampleRatio is the share of traces started here that are kept,
	// 0 to 1; a request whose traceparent says sampled (or not) is
	// followed as its caller decided. Default 1.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name resource attribute. Default
	// paystate.
	ServiceName string `yaml:"service_name"`
}

// Tracing protocols.
const (
	TracingGRPC = "grpc"
	TracingHTTP = "http"
)

func defaultTracing() Tracing {
	return Tracing{Protocol: TracingGRPC, SampleRatio: 1, ServiceName: "paystate"}
}

// Enabled reports whether spans are exported.
func (t Tracing) Enabled() bool { return t.OTLPEndpoint != "" }

// OTLPTarget is where spans go, as the exporters take it.
type OTLPTarget struct {
	// HostPort is host:port.
	HostPort string
	// Path is the URL path of OTLP/HTTP; empty for gRPC.
	Path string
	// Insecure is plaintext; otherwise TLS, verified against the
	// system's roots.
	Insecure bool
}

// Target parses OTLPEndpoint for Protocol. It is the one parser: what
// `config check` accepts is what serve exports to. An error starts with
// the key it is about.
func (t Tracing) Target() (OTLPTarget, error) {
	const key = "tracing.otlp_endpoint"
	port := "4317"
	if t.Protocol == TracingHTTP {
		port = "4318"
	}
	ep := strings.TrimSpace(t.OTLPEndpoint)
	if !strings.Contains(ep, "://") {
		host, p, err := net.SplitHostPort(ep)
		if err != nil || host == "" {
			return OTLPTarget{}, fmt.Errorf("%s: %q is not host:port or an http(s):// URL, e.g. localhost:%s", key, t.OTLPEndpoint, port)
		}
		if err := checkPort(p); err != nil {
			return OTLPTarget{}, fmt.Errorf("%s: %q %w", key, t.OTLPEndpoint, err)
		}
		target := OTLPTarget{HostPort: ep, Insecure: t.Insecure}
		if t.Protocol == TracingHTTP {
			target.Path = "/v1/traces"
		}
		return target, nil
	}
	u, err := url.Parse(ep)
	if err != nil {
		return OTLPTarget{}, fmt.Errorf("%s: %q is not a URL", key, t.OTLPEndpoint)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return OTLPTarget{}, fmt.Errorf("%s: %q: the scheme must be http or https", key, t.OTLPEndpoint)
	case u.Hostname() == "":
		return OTLPTarget{}, fmt.Errorf("%s: %q names no host", key, t.OTLPEndpoint)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "":
		return OTLPTarget{}, fmt.Errorf("%s: %q: no user, query or fragment (credentials go in OTEL_EXPORTER_OTLP_HEADERS)", key, t.OTLPEndpoint)
	case t.Insecure && u.Scheme == "https":
		return OTLPTarget{}, fmt.Errorf("tracing.insecure: true contradicts the https:// endpoint %q", t.OTLPEndpoint)
	}
	if p := u.Port(); p != "" {
		if err := checkPort(p); err != nil {
			return OTLPTarget{}, fmt.Errorf("%s: %q %w", key, t.OTLPEndpoint, err)
		}
		port = p
	}
	target := OTLPTarget{HostPort: net.JoinHostPort(u.Hostname(), port), Insecure: u.Scheme == "http"}
	path := strings.TrimSuffix(u.Path, "/")
	switch {
	case t.Protocol != TracingHTTP && path != "":
		return OTLPTarget{}, fmt.Errorf("%s: %q: OTLP over gRPC takes no path", key, t.OTLPEndpoint)
	case t.Protocol == TracingHTTP && path == "":
		target.Path = "/v1/traces"
	case t.Protocol == TracingHTTP:
		target.Path = u.Path
	}
	return target, nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("has no usable port: %q", p)
	}
	return nil
}

// applyTracingEnv reads PAYSTATE_TRACING_*.
func (c *Config) applyTracingEnv(env func(string) string) error {
	t := &c.Tracing
	for name, dst := range map[string]*string{
		"PAYSTATE_TRACING_OTLP_ENDPOINT": &t.OTLPEndpoint,
		"PAYSTATE_TRACING_PROTOCOL":      &t.Protocol,
		"PAYSTATE_TRACING_SERVICE_NAME":  &t.ServiceName,
	} {
		if v := env(name); v != "" {
			*dst = v
		}
	}
	if v := env("PAYSTATE_TRACING_INSECURE"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_TRACING_INSECURE: %q is not true or false", v)
		}
		t.Insecure = b
	}
	if v := env("PAYSTATE_TRACING_SAMPLE_RATIO"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Errorf("config: PAYSTATE_TRACING_SAMPLE_RATIO: %q is not a number", v)
		}
		t.SampleRatio = f
	}
	return nil
}

func (c *Config) validateTracing() []error {
	t := c.Tracing
	var errs []error
	switch t.Protocol {
	case TracingGRPC, TracingHTTP:
	default:
		errs = append(errs, fmt.Errorf("tracing.protocol %q: want grpc or http", t.Protocol))
	}
	if !(t.SampleRatio >= 0 && t.SampleRatio <= 1) { // NaN too
		errs = append(errs, errors.New("tracing.sample_ratio must be between 0 and 1"))
	}
	if strings.TrimSpace(t.ServiceName) == "" {
		errs = append(errs, errors.New("tracing.service_name must not be empty"))
	}
	if t.Enabled() {
		if _, err := t.Target(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
